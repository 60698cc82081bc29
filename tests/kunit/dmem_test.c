// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mainline dmem driver API (include/linux/cgroup_dmem.h,
 * src/adapters/dmem.c): a mock VRAM driver that uses only that header, as a
 * mainline TTM driver does, registers its region, charges from tasks in
 * test cgroups, is limited, and evicts through it.
 */

#include <kunit/test.h>
#include <linux/cgroup_dmem.h>
#include <linux/err.h>
#include <linux/mount.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "cgroupfs.h"

/* The mock driver: one VRAM region and the buffers it placed there. */
struct mock_vram {
	struct dmem_cgroup_region *region;
};

struct mock_bo {
	struct dmem_cgroup_pool_state *pool;
	u64 size;
};

/* Places a buffer as a mainline driver does: charge, or learn who limits. */
static int mock_bo_place(struct mock_vram *vram, struct mock_bo *bo, u64 size,
			 struct dmem_cgroup_pool_state **limit)
{
	int ret = dmem_cgroup_try_charge(vram->region, size, &bo->pool, limit);

	bo->size = ret ? 0 : size;
	return ret;
}

static void mock_bo_free(struct mock_bo *bo)
{
	dmem_cgroup_uncharge(bo->pool, bo->size);
	bo->pool = NULL;
}

static void unregister_region_action(void *region)
{
	dmem_cgroup_unregister_region(region);
}

/*
 * dmem_cgroup_register_region(), the region unregistered when the test ends
 * even if it stops early (an assertion); test_unregister() does it before.
 */
#define test_register(test, size, ...)							\
	({										\
		struct dmem_cgroup_region *__region =					\
			dmem_cgroup_register_region(size, __VA_ARGS__);			\
		if (!IS_ERR_OR_NULL(__region) &&					\
		    kunit_add_action_or_reset(test, unregister_region_action, __region))	\
			__region = ERR_PTR(-ENOMEM);					\
		__region;								\
	})

static void test_unregister(struct kunit *test, struct dmem_cgroup_region *region)
{
	kunit_release_action(test, unregister_region_action, region);
}

static u64 vram_usage(struct kunit *test, struct devcg_test_cg *cg)
{
	return devcg_test_value(test, cg->dentry, "dev.current", "drm/kunit-dmem:0", "region.vram0");
}

/* Whether the device is still listed in @cg's dev.current. */
static bool vram_usage_listed(struct kunit *test, struct devcg_test_cg *cg)
{
	char *buf = kunit_kzalloc(test, 4096, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, devcg_test_read(cg->dentry, "dev.current", buf, 4096), 0);
	return strstr(buf, "drm/kunit-dmem:0 ") != NULL;
}

/*
 * "drm/kunit-dmem:0/vram0" is device "drm/kunit-dmem:0", region "vram0";
 * a cgroup limited to 4 MiB in dev.max gets 3 MiB, then -EAGAIN with its
 * own pool as the limiting one; the driver may evict that cgroup's buffer
 * for it, and not a buffer of a cgroup outside its subtree.
 */
static void mainline_driver_charges_is_limited_and_evicts(struct kunit *test)
{
	struct devcg_test_cg *limited = devcg_test_cg_create(test, NULL, "kunit_dmem_limited");
	struct devcg_test_cg *other = devcg_test_cg_create(test, NULL, "kunit_dmem_other");
	struct dmem_cgroup_pool_state *limit = NULL;
	struct dmem_cgroup_region *again;
	struct mock_vram vram;
	struct mock_bo a = {}, b = {}, c = {};
	bool hit_low = false;

	vram.region = test_register(test, SZ_16M, "drm/%s:%d/vram%d", "kunit-dmem", 0, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(vram.region));
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, devcg_test_mnt->mnt_root, "dev.capacity",
					       "drm/kunit-dmem:0", "region.vram0"), (u64)SZ_16M);
	/*
	 * The same name again is a device of its own, named in full (as a
	 * second region of the device would be); a third time is refused.
	 */
	again = test_register(test, SZ_1M, "drm/kunit-dmem:0/vram0");
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(again));
	KUNIT_EXPECT_EQ(test, PTR_ERR(test_register(test, SZ_1M, "drm/kunit-dmem:0/vram0")),
			(long)-EEXIST);
	if (!IS_ERR_OR_NULL(again))
		test_unregister(test, again);
	/* Nothing to account: no region. */
	KUNIT_EXPECT_NULL(test, test_register(test, 0, "drm/kunit-dmem:1/vram0"));

	KUNIT_ASSERT_EQ(test, devcg_test_write(limited->dentry, "dev.max",
					       "drm/kunit-dmem:0 region.vram0=4M"), 0);
	devcg_test_enter(test, other);
	KUNIT_EXPECT_EQ(test, mock_bo_place(&vram, &c, SZ_2M, NULL), 0);
	devcg_test_enter(test, limited);
	KUNIT_EXPECT_EQ(test, mock_bo_place(&vram, &a, 3 * SZ_1M, NULL), 0);
	KUNIT_EXPECT_EQ(test, mock_bo_place(&vram, &b, 2 * SZ_1M, &limit), -EAGAIN);
	devcg_test_enter(test, NULL);
	KUNIT_EXPECT_NULL(test, b.pool);
	KUNIT_ASSERT_NOT_NULL(test, limit);
	KUNIT_EXPECT_EQ(test, vram_usage(test, limited), 3ull * SZ_1M);
	KUNIT_EXPECT_EQ(test, vram_usage(test, other), (u64)SZ_2M);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, limited->dentry, "dev.events.local",
					       "drm/kunit-dmem:0", "region.vram0.max"), 1ull);

	/* Eviction under the limiting pool: a's buffer may go, c's may not. */
	KUNIT_EXPECT_TRUE(test, dmem_cgroup_state_evict_valuable(limit, a.pool, false, &hit_low));
	KUNIT_EXPECT_FALSE(test, dmem_cgroup_state_evict_valuable(limit, c.pool, false, &hit_low));
	/* The whole region full (no limiting pool): anything may go. */
	KUNIT_EXPECT_TRUE(test, dmem_cgroup_state_evict_valuable(NULL, c.pool, false, NULL));
	dmem_cgroup_pool_state_put(limit);

	/* Evicted: the retry fits. */
	mock_bo_free(&a);
	devcg_test_enter(test, limited);
	KUNIT_EXPECT_EQ(test, mock_bo_place(&vram, &b, 2 * SZ_1M, NULL), 0);
	devcg_test_enter(test, NULL);
	KUNIT_EXPECT_EQ(test, vram_usage(test, limited), (u64)SZ_2M);

	/*
	 * Unregistered (the region is not used again, as in mainline): it
	 * leaves the files at once, and live charges are uncharged normally.
	 */
	test_unregister(test, vram.region);
	vram.region = NULL;
	KUNIT_EXPECT_FALSE(test, vram_usage_listed(test, limited));
	mock_bo_free(&b);
	mock_bo_free(&c);
	devcg_test_cg_remove(test, other);
	devcg_test_cg_remove(test, limited);
}

/* A region without a '/' is device <name>, region "mem"; NULL charges nothing. */
static void names_without_a_region_and_null_regions(struct kunit *test)
{
	struct dmem_cgroup_region *region = test_register(test, SZ_1M, "kunit-dmem-plain");
	struct dmem_cgroup_pool_state *pool = (void *)1, *limit = (void *)1;

	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(region));
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, devcg_test_mnt->mnt_root, "dev.capacity",
					       "kunit-dmem-plain", "region.mem"), (u64)SZ_1M);
	test_unregister(test, region);
	KUNIT_EXPECT_EQ(test, dmem_cgroup_try_charge(NULL, SZ_1M, &pool, &limit), 0);
	KUNIT_EXPECT_NULL(test, pool);
	KUNIT_EXPECT_NULL(test, limit);
}

/*
 * Two regions of one device, as xe registers vram0 and vram1 per tile: the
 * first is region vram0 of device drm/kunit-dmem:2, the second a device of
 * its own named in full; both charge. A zero-size charge accounts nothing.
 */
static void two_regions_of_one_device(struct kunit *test)
{
	struct dmem_cgroup_region *vram0, *vram1;
	struct dmem_cgroup_pool_state *pool = NULL;
	struct dentry *root = devcg_test_mnt->mnt_root;

	vram0 = test_register(test, SZ_8M, "drm/kunit-dmem:2/vram0");
	vram1 = test_register(test, SZ_4M, "drm/kunit-dmem:2/vram1");
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(vram0));
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(vram1));
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, root, "dev.capacity", "drm/kunit-dmem:2",
					       "region.vram0"), (u64)SZ_8M);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, root, "dev.capacity", "drm/kunit-dmem:2/vram1",
					       "region.vram1"), (u64)SZ_4M);
	KUNIT_EXPECT_EQ(test, dmem_cgroup_try_charge(vram1, SZ_1M, &pool, NULL), 0);
	KUNIT_EXPECT_NOT_NULL(test, pool);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, root, "dev.current", "drm/kunit-dmem:2/vram1",
					       "region.vram1"), (u64)SZ_1M);
	dmem_cgroup_uncharge(pool, SZ_1M);
	KUNIT_EXPECT_EQ(test, dmem_cgroup_try_charge(vram0, 0, &pool, NULL), 0);
	KUNIT_EXPECT_NULL(test, pool);
	test_unregister(test, vram1);
	test_unregister(test, vram0);
}

static struct kunit_case dev_cgroup_dmem_cases[] = {
	KUNIT_CASE(two_regions_of_one_device),
	KUNIT_CASE(mainline_driver_charges_is_limited_and_evicts),
	KUNIT_CASE(names_without_a_region_and_null_regions),
	{}
};

static struct kunit_suite dev_cgroup_dmem_suite = {
	.name = "dev_cgroup_dmem_api",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.test_cases = dev_cgroup_dmem_cases,
};
kunit_test_suite(dev_cgroup_dmem_suite);
