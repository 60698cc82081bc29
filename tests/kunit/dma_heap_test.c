// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the dma-buf heaps adapter (src/adapters/dma_heap.rs): the
 * entry points the CMA and system heaps call, charging the test's own thread
 * after moving it into a test cgroup, and read back through the real files.
 */

#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/dma-map-ops.h>
#include <linux/sizes.h>

#include "cgroupfs.h"

static u64 heap_value(struct kunit *test, struct devcg_test_cg *cg, const char *file,
		      const char *device, const char *key)
{
	return devcg_test_value(test, cg->dentry, file, device, key);
}

/* The default CMA area (cma=64M, region "reserved") is charged once and given back once. */
static void cma_charge_goes_to_the_heaps_area_once(struct kunit *test)
{
	struct cma *cma = dev_get_cma_area(NULL);
	struct dev_cgroup_charge record = {};
	struct devcg_test_cg *cg;
	int ret;

	if (!cma)
		kunit_skip(test, "no default CMA area: boot with cma=64M");
	cg = devcg_test_cg_create(test, NULL, "kunit_heap_cma");
	devcg_test_enter(test, cg);
	ret = dev_cgroup_dma_heap_charge_cma(&record, cma, SZ_64K);
	devcg_test_enter(test, NULL);
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_NOT_NULL(test, record.pool);
	KUNIT_EXPECT_EQ(test, record.size, (u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "cma", "region.reserved"),
			(u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.stat", "cma", "region.reserved.dma_heap"),
			(u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "system", "region.ram"), 0ull);

	dev_cgroup_dma_heap_uncharge(&record);
	KUNIT_EXPECT_NULL(test, record.pool);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "cma", "region.reserved"), 0ull);
	/* An error path followed by a release: the second call gives back nothing. */
	dev_cgroup_dma_heap_uncharge(&record);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* The system heap charges system RAM; at the limit the answer is -ENOMEM and nothing is recorded. */
static void system_charge_refused_with_enomem_at_limit(struct kunit *test)
{
	struct dev_cgroup_charge fits = {}, refused = {};
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_heap_sys");
	int ret_fits, ret_refused;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "system region.ram=64K"), 0);
	devcg_test_enter(test, cg);
	ret_fits = dev_cgroup_dma_heap_charge_system(&fits, SZ_64K);
	ret_refused = dev_cgroup_dma_heap_charge_system(&refused, SZ_4K);
	devcg_test_enter(test, NULL);
	KUNIT_EXPECT_EQ(test, ret_fits, 0);
	KUNIT_EXPECT_EQ(test, ret_refused, -ENOMEM);
	KUNIT_EXPECT_NULL(test, refused.pool);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "system", "region.ram"),
			(u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.events", "system", "region.ram.max"), 1ull);

	dev_cgroup_dma_heap_uncharge(&refused);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "system", "region.ram"),
			(u64)SZ_64K);
	dev_cgroup_dma_heap_uncharge(&fits);
	KUNIT_EXPECT_EQ(test, heap_value(test, cg, "dev.current", "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* Memory of an area that has no region (created after boot) is not charged, not refused. */
static void unknown_cma_area_is_not_charged(struct kunit *test)
{
	static u64 not_an_area;
	struct dev_cgroup_charge record = { .size = 123 };
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_heap_unknown");
	int ret;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "cma region.reserved=0"), 0);
	devcg_test_enter(test, cg);
	ret = dev_cgroup_dma_heap_charge_cma(&record, (struct cma *)&not_an_area, SZ_64K);
	devcg_test_enter(test, NULL);
	KUNIT_EXPECT_EQ(test, ret, 0);
	KUNIT_EXPECT_NULL(test, record.pool);
	KUNIT_EXPECT_EQ(test, record.size, 0ull);
	dev_cgroup_dma_heap_uncharge(&record);
	devcg_test_cg_remove(test, cg);
}

static struct kunit_case dev_cgroup_dma_heap_cases[] = {
	KUNIT_CASE(cma_charge_goes_to_the_heaps_area_once),
	KUNIT_CASE(system_charge_refused_with_enomem_at_limit),
	KUNIT_CASE(unknown_cma_area_is_not_charged),
	{}
};

static struct kunit_suite dev_cgroup_dma_heap_suite = {
	.name = "dev_cgroup_dma_heap",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.test_cases = dev_cgroup_dma_heap_cases,
};
kunit_test_suite(dev_cgroup_dma_heap_suite);
