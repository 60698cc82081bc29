/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mainline "dmem" cgroup driver API (Linux 6.14 and later), on top of the
 * dev cgroup controller: a driver that calls these functions (an
 * out-of-tree GPU driver, a backport) compiles and charges unchanged. A
 * thin layer, with no accounting of its own (src/adapters/dmem.c). (TTM's
 * own charging in this kernel is patches/0006's, not mainline's
 * drmm_cgroup_register_region()/man->cg, which 6.12's TTM does not have.)
 *
 * A region registered as "drm/0000:03:00.0/vram0" is device
 * "drm/0000:03:00.0", region "vram0" of the dev controller: everything up
 * to the last '/' names the device, the rest the region (a name without a
 * '/' is device <name>, region "mem"; a second region of a device already
 * registered is a device of its own named in full, e.g.
 * "drm/0000:03:00.0/vram1" region "vram1"). Limits and usage are in the dev.*
 * files, e.g. "drm/0000:03:00.0 region.vram0=256M" in dev.max. See
 * Documentation/driver-api/cgroup-dev.rst for what differs from mainline's
 * dmem.* files.
 */
#ifndef _LINUX_CGROUP_DMEM_H
#define _LINUX_CGROUP_DMEM_H

#include <linux/cgroup_dev.h>
#include <linux/types.h>

struct dmem_cgroup_pool_state;
struct dmem_cgroup_region;

#ifdef CONFIG_CGROUP_DEV

/*
 * Registers a region of @size bytes named by @name_fmt. NULL for a size of
 * 0 (nothing to account), an ERR_PTR on failure (-EINVAL for a name the
 * controller refuses: region names are [A-Za-z0-9_.-]+; -EEXIST for a name
 * taken; -ENOMEM). After dmem_cgroup_unregister_region() the region is not
 * used again; charges alive are still uncharged and limiting pools put.
 */
struct dmem_cgroup_region *dmem_cgroup_register_region(u64 size, const char *name_fmt, ...)
	__printf(2, 3);
void dmem_cgroup_unregister_region(struct dmem_cgroup_region *region);

/*
 * Charges @size bytes to the current task's cgroup: 0 with *@ret_pool set
 * (NULL for a NULL region or a size of 0, which account nothing); -EAGAIN
 * when a limit was hit, with the limiting pool referenced in
 * *@ret_limit_pool if @ret_limit_pool is not NULL (drop it with
 * dmem_cgroup_pool_state_put()); -ENODEV if racing the region's
 * unregistration; -ENOMEM.
 */
int dmem_cgroup_try_charge(struct dmem_cgroup_region *region, u64 size,
			   struct dmem_cgroup_pool_state **ret_pool,
			   struct dmem_cgroup_pool_state **ret_limit_pool);
void dmem_cgroup_uncharge(struct dmem_cgroup_pool_state *pool, u64 size);
bool dmem_cgroup_state_evict_valuable(struct dmem_cgroup_pool_state *limit_pool,
				      struct dmem_cgroup_pool_state *test_pool,
				      bool ignore_low, bool *ret_hit_low);
void dmem_cgroup_pool_state_put(struct dmem_cgroup_pool_state *pool);

#else

static inline __printf(2, 3) struct dmem_cgroup_region *
dmem_cgroup_register_region(u64 size, const char *name_fmt, ...)
{
	return NULL;
}

static inline void dmem_cgroup_unregister_region(struct dmem_cgroup_region *region) {}

static inline int dmem_cgroup_try_charge(struct dmem_cgroup_region *region, u64 size,
					 struct dmem_cgroup_pool_state **ret_pool,
					 struct dmem_cgroup_pool_state **ret_limit_pool)
{
	*ret_pool = NULL;
	if (ret_limit_pool)
		*ret_limit_pool = NULL;
	return 0;
}

static inline void dmem_cgroup_uncharge(struct dmem_cgroup_pool_state *pool, u64 size) {}

static inline bool dmem_cgroup_state_evict_valuable(struct dmem_cgroup_pool_state *limit_pool,
						    struct dmem_cgroup_pool_state *test_pool,
						    bool ignore_low, bool *ret_hit_low)
{
	return true;
}

static inline void dmem_cgroup_pool_state_put(struct dmem_cgroup_pool_state *pool) {}

#endif /* CONFIG_CGROUP_DEV */

#endif /* _LINUX_CGROUP_DMEM_H */
