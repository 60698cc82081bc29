// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark of the charge fast path, run on demand in the guest (make bench):
 * the controller's charge + uncharge against the kernel's C page_counter
 * (page_counter_try_charge + page_counter_uncharge, as memcg uses it) over a
 * hierarchy of the same depth, on one CPU and on both CPUs at once.
 *
 * Write "<cgroup directory> <iterations>" to /sys/kernel/debug/dev_cgroup_bench,
 * then read it. The cgroup is the leaf to charge; the C chain gets as many
 * counters as the leaf has levels up to the root (root included). Results
 * are lines "key value", in nanoseconds per charge+uncharge pair, the best of
 * BENCH_ROUNDS interleaved rounds (the guest's vCPUs share the host's CPUs).
 */

#include <linux/cgroup.h>
#include <linux/cgroup_dev.h>
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/namei.h>
#include <linux/page_counter.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>

#include "../../src/core/glue.h"

#define MAX_DEPTH 64
#define BENCH_ROUNDS 21

static DEFINE_MUTEX(bench_lock);
static char bench_result[2048];
static struct dev_cgroup_device *bench_one, *bench_many;

struct bench_run {
	struct cgroup_subsys_state *css;
	struct dev_cgroup_region *region;
	struct page_counter *leaf;	/* NULL: time the controller */
	unsigned long iterations;
	u64 ns;
	struct completion *start;
	struct completion done;
};

static void bench_loop(struct bench_run *run)
{
	unsigned long i;
	u64 t0 = ktime_get_ns();

	if (run->leaf) {
		struct page_counter *fail;

		for (i = 0; i < run->iterations; i++) {
			if (page_counter_try_charge(run->leaf, 1, &fail))
				page_counter_uncharge(run->leaf, 1);
		}
	} else {
		struct dev_cgroup_pool *pool;

		for (i = 0; i < run->iterations; i++) {
			if (!dev_cgroup_try_charge_css(run->css, run->region, PAGE_SIZE,
						       DEV_CGROUP_CONSUMER_OTHER, &pool, NULL))
				dev_cgroup_uncharge(pool, PAGE_SIZE);
		}
	}
	run->ns = ktime_get_ns() - t0;
}

static int bench_thread(void *data)
{
	struct bench_run *run = data;

	wait_for_completion(run->start);
	bench_loop(run);
	complete(&run->done);
	return 0;
}

/* Mean ns per pair over @cpus CPUs charging the same hierarchy at once. */
static u64 bench_cpus(struct bench_run *proto, int cpus)
{
	struct bench_run runs[2];
	DECLARE_COMPLETION_ONSTACK(start);
	u64 total = 0;
	int i;

	for (i = 0; i < cpus; i++) {
		struct task_struct *t;

		runs[i] = *proto;
		runs[i].start = &start;
		init_completion(&runs[i].done);
		t = kthread_create(bench_thread, &runs[i], "devcg_bench/%d", i);
		if (IS_ERR(t))
			return 0;
		kthread_bind(t, i % num_online_cpus());
		wake_up_process(t);
	}
	complete_all(&start);
	for (i = 0; i < cpus; i++) {
		wait_for_completion(&runs[i].done);
		total += runs[i].ns;
	}
	return total / cpus / proto->iterations;
}

/* The devices charged, registered only while a run lasts. */
static u64 bench_register_ns;

static int bench_register(void)
{
	static struct dev_cgroup_region_desc regions[64];
	static char names[64][8];
	u64 t0;
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "r%d", i);
		regions[i].name = names[i];
		regions[i].capacity = SZ_1G;
	}
	bench_one = dev_cgroup_register_device("bench1", regions, 1);
	if (IS_ERR(bench_one))
		return PTR_ERR(bench_one);
	t0 = ktime_get_ns();
	bench_many = dev_cgroup_register_device("bench64", regions, 64);
	bench_register_ns = ktime_get_ns() - t0;
	if (IS_ERR(bench_many)) {
		dev_cgroup_unregister_device(bench_one);
		return PTR_ERR(bench_many);
	}
	return 0;
}

static ssize_t bench_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct page_counter *chain = NULL;
	struct cgroup_subsys_state *css, *pos;
	struct bench_run run = {};
	char *buf, *path, *sep;
	struct path p;
	int depth = 0, cpus, i, n = 0;
	ssize_t ret = len;
	u64 t0;

	buf = memdup_user_nul(ubuf, min_t(size_t, len, PATH_MAX));
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	path = strim(buf);
	sep = strchr(path, ' ');
	if (!sep || kstrtoul(sep + 1, 10, &run.iterations) || !run.iterations) {
		ret = -EINVAL;
		goto out_buf;
	}
	*sep = '\0';
	if (kern_path(path, LOOKUP_FOLLOW, &p)) {
		ret = -ENOENT;
		goto out_buf;
	}
	css = css_tryget_online_from_dir(p.dentry, &dev_cgrp_subsys);
	path_put(&p);
	if (IS_ERR(css)) {
		ret = PTR_ERR(css);
		goto out_buf;
	}
	for (pos = css; pos; pos = pos->parent)
		depth++;
	chain = kcalloc(depth, sizeof(*chain), GFP_KERNEL);
	if (!chain || depth > MAX_DEPTH) {
		ret = -ENOMEM;
		goto out_css;
	}
	for (i = 0; i < depth; i++)
		page_counter_init(&chain[i], i ? &chain[i - 1] : NULL, true);

	mutex_lock(&bench_lock);
	ret = bench_register() ?: len;
	if (ret < 0)
		goto out_unlock;
	run.css = css;
	for (cpus = 1; cpus <= min(2, (int)num_online_cpus()); cpus++) {
		/* Interleaved rounds, best of each: the guest shares the host's CPUs. */
		u64 best[3] = { U64_MAX, U64_MAX, U64_MAX };
		int round;

		for (round = 0; round < BENCH_ROUNDS; round++) {
			run.leaf = NULL;
			run.region = dev_cgroup_device_region(bench_one, 0);
			best[0] = min(best[0], bench_cpus(&run, cpus));
			run.region = dev_cgroup_device_region(bench_many, 63);
			best[1] = min(best[1], bench_cpus(&run, cpus));
			run.leaf = &chain[depth - 1];
			best[2] = min(best[2], bench_cpus(&run, cpus));
		}
		n += scnprintf(bench_result + n, sizeof(bench_result) - n,
			       "rust_1region_cpus%d %llu\nrust_64regions_cpus%d %llu\n"
			       "c_page_counter_cpus%d %llu\n",
			       cpus, best[0], cpus, best[1], cpus, best[2]);
	}
	dev_cgroup_unregister_device(bench_one);
	/* The last reference: the device goes, and its regions' pools with it. */
	t0 = ktime_get_ns();
	dev_cgroup_unregister_device(bench_many);
	t0 = ktime_get_ns() - t0;
	n += scnprintf(bench_result + n, sizeof(bench_result) - n,
		       "levels %d\npool_bytes %zu\nregister64_ns %llu\nunregister64_ns %llu\n",
		       depth, devcg_pool_bytes(), bench_register_ns, t0);
out_unlock:
	mutex_unlock(&bench_lock);
	kfree(chain);
out_css:
	css_put(css);
out_buf:
	kfree(buf);
	return ret;
}

static int bench_show(struct seq_file *m, void *v)
{
	mutex_lock(&bench_lock);
	seq_puts(m, bench_result);
	mutex_unlock(&bench_lock);
	return 0;
}

static int bench_open(struct inode *inode, struct file *file)
{
	return single_open(file, bench_show, NULL);
}

static const struct file_operations bench_fops = {
	.open = bench_open,
	.read = seq_read,
	.write = bench_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static int __init devcg_bench_init(void)
{
	debugfs_create_file("dev_cgroup_bench", 0600, NULL, NULL, &bench_fops);
	return 0;
}
late_initcall(devcg_bench_init);
