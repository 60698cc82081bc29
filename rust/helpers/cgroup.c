// SPDX-License-Identifier: GPL-2.0
/*
 * css reference counting and RCU read-side sections, inline in C, for
 * rust/kernel/cgroup.rs (part of the dev cgroup controller's overlay).
 */

#include <linux/cgroup.h>
#include <linux/nsproxy.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

#ifdef CONFIG_CGROUPS
void rust_helper_css_get(struct cgroup_subsys_state *css)
{
	css_get(css);
}

void rust_helper_css_put(struct cgroup_subsys_state *css)
{
	css_put(css);
}

bool rust_helper_css_tryget(struct cgroup_subsys_state *css)
{
	return css_tryget(css);
}
#endif

void rust_helper_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rust_helper_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

#ifdef CONFIG_CGROUPS
/* The cgroup namespace of the current task (the initial one once it exits). */
struct cgroup_namespace *rust_helper_current_cgroup_ns(void)
{
	struct nsproxy *ns = current->nsproxy;

	return ns ? ns->cgroup_ns : &init_cgroup_ns;
}
#endif
