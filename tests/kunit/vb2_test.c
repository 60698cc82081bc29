// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the videobuf2 adapter (src/adapters/vb2.rs) through the real
 * memops: buffers allocated by vb2-dma-contig, vb2-dma-sg and vb2-vmalloc for
 * a device made by the test, charged to the cgroup the test thread is in.
 * They show the region being found from the memory: the same device gets a
 * CMA buffer (large dma-contig) or a page-allocator buffer (one page, or the
 * other memops).
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/vmalloc.h>
#include <media/videobuf2-core.h>
#include <media/videobuf2-dma-contig.h>
#include <media/videobuf2-dma-sg.h>
#include <media/videobuf2-vmalloc.h>

#include "cgroupfs.h"

struct vb2_ctx {
	struct device *dev;
	struct vb2_queue queue;
	struct vb2_buffer vb;
	struct devcg_test_cg *cg;
};

static int vb2_test_init(struct kunit *test)
{
	struct vb2_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->dev = kunit_device_register(test, "devcg_vb2");
	if (IS_ERR(ctx->dev))
		return PTR_ERR(ctx->dev);
	ctx->dev->coherent_dma_mask = DMA_BIT_MASK(32);
	ctx->dev->dma_mask = &ctx->dev->coherent_dma_mask;
	ctx->queue.dma_dir = DMA_FROM_DEVICE;
	ctx->vb.vb2_queue = &ctx->queue;
	test->priv = ctx;
	return 0;
}

/* Allocates one buffer with @ops from inside the test's cgroup @cg. */
static void *alloc_in(struct kunit *test, struct devcg_test_cg *cg,
		      const struct vb2_mem_ops *ops, unsigned long size)
{
	struct vb2_ctx *ctx = test->priv;
	void *buf;

	devcg_test_enter(test, cg);
	buf = ops->alloc(&ctx->vb, ctx->dev, size);
	devcg_test_enter(test, NULL);
	return buf;
}

static u64 usage(struct kunit *test, struct devcg_test_cg *cg, const char *device,
		 const char *key)
{
	return devcg_test_value(test, cg->dentry, "dev.current", device, key);
}

static void dma_contig_buffer_charged_to_its_cma_area(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc");
	void *buf = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);

	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.stat", "cma",
					       "region.reserved.v4l2"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	vb2_dma_contig_memops.put(buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* dma-direct serves single pages from the page allocator, not CMA. */
static void dma_contig_single_page_charged_to_system_ram(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc_page");
	void *buf = alloc_in(test, cg, &vb2_dma_contig_memops, PAGE_SIZE);

	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	vb2_dma_contig_memops.put(buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * Over the limit the memop fails with -ENOMEM (it frees the memory through
 * its own put; the e2e suite checks the CMA area's page counts).
 */
static void dma_contig_refused_at_limit(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc_limit");
	void *buf;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "cma region.reserved=128K"), 0);
	buf = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(buf), -ENOMEM);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.events", "cma",
					       "region.reserved.max"), 1ull);
	if (!IS_ERR_OR_NULL(buf))
		vb2_dma_contig_memops.put(buf);
	devcg_test_cg_remove(test, cg);
}

static void dma_sg_buffer_charged_to_system_ram(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_sg");
	void *buf = alloc_in(test, cg, &vb2_dma_sg_memops, SZ_64K);

	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	vb2_dma_sg_memops.put(buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

static void vmalloc_buffer_charged_and_refused(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_vmalloc");
	void *buf, *refused;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "system region.ram=96K"), 0);
	buf = alloc_in(test, cg, &vb2_vmalloc_memops, SZ_64K);
	refused = alloc_in(test, cg, &vb2_vmalloc_memops, SZ_64K);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.stat", "system",
					       "region.ram.v4l2"), (u64)SZ_64K);
	vb2_vmalloc_memops.put(buf);
	if (!IS_ERR_OR_NULL(refused))
		vb2_vmalloc_memops.put(refused);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * With no room in the CMA area nor in the page allocator, the memop fails
 * before it asks CMA for pages (which would migrate other users' pages for
 * nothing); with room in either it tries, and the charge decides.
 */
static void dma_contig_refused_before_taking_memory(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc_room");
	void *buf, *refused;
	int before_room, with_room;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max",
					       "cma region.reserved=384K\nsystem region.ram=128K"), 0);
	buf = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_ASSERT_EQ(test, devcg_test_cma_allocs_start(test), 0);
	refused = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	before_room = devcg_test_cma_allocs();
	KUNIT_EXPECT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "system region.ram=max"), 0);
	refused = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	with_room = devcg_test_cma_allocs_stop(test);
	KUNIT_EXPECT_EQ(test, before_room, 0);
	KUNIT_EXPECT_EQ(test, with_room, 1);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.events", "cma",
					       "region.reserved.max"), 2ull);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	vb2_dma_contig_memops.put(buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * Page-allocator memory of dma-contig, coherent or not, is one block of
 * order get_order(size): 1200 KiB (out of the CMA area's reach behind a
 * 24-bit DMA mask) take and are charged 2 MiB.
 */
static void dma_contig_page_allocator_buffer_costs_its_whole_block(struct kunit *test)
{
	struct vb2_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc_order");
	bool non_coherent;

	ctx->dev->coherent_dma_mask = DMA_BIT_MASK(24);
	for (non_coherent = false; ; non_coherent = true) {
		void *buf;

		ctx->queue.non_coherent_mem = non_coherent;
		buf = alloc_in(test, cg, &vb2_dma_contig_memops, 1200 * SZ_1K);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR_OR_NULL(buf), "non_coherent %d", non_coherent);
		KUNIT_EXPECT_EQ_MSG(test, usage(test, cg, "system", "region.ram"), (u64)SZ_2M,
				    "non_coherent %d", non_coherent);
		KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
		vb2_dma_contig_memops.put(buf);
		KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
		if (non_coherent)
			break;
	}
	devcg_test_cg_remove(test, cg);
}

/* Non-coherent dma-contig memory is found in its CMA area like coherent memory. */
static void dma_contig_non_coherent_buffer_charged_to_its_cma_area(struct kunit *test)
{
	struct vb2_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_dc_nc");
	void *buf;

	ctx->queue.non_coherent_mem = true;
	buf = alloc_in(test, cg, &vb2_dma_contig_memops, SZ_256K);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	vb2_dma_contig_memops.put(buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* dma-sg over the limit: -ENOMEM, its pages freed by its own put, nothing charged. */
static void dma_sg_refused_at_limit(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_sg_limit");
	void *buf;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "system region.ram=32K"), 0);
	buf = alloc_in(test, cg, &vb2_dma_sg_memops, SZ_64K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(buf), -ENOMEM);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.events", "system",
					       "region.ram.max"), 1ull);
	if (!IS_ERR_OR_NULL(buf))
		vb2_dma_sg_memops.put(buf);
	devcg_test_cg_remove(test, cg);
}

/*
 * Memory nobody can place (here a vmalloc range with no page behind it, and
 * a table without pages) is charged to system RAM, where its limit applies,
 * and counted, never silently.
 */
static void unclassified_memory_charged_to_ram_and_counted(struct kunit *test)
{
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_vb2_unclassified");
	unsigned long before = dev_cgroup_unclassified_buffers();
	struct vm_struct *unmapped = get_vm_area(PAGE_SIZE, VM_IOREMAP);
	struct dev_cgroup_charge charge = {};
	struct sg_table no_pages = {};
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, unmapped);
	devcg_test_enter(test, cg);
	ret = dev_cgroup_vb2_charge_vmalloc(&charge, unmapped->addr, PAGE_SIZE);
	devcg_test_enter(test, NULL);
	free_vm_area(unmapped);
	KUNIT_EXPECT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, dev_cgroup_unclassified_buffers(), before + 1);
	dev_cgroup_vb2_uncharge(&charge);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	KUNIT_EXPECT_PTR_EQ(test, dev_cgroup_sg_region(&no_pages), dev_cgroup_system_ram_region());
	KUNIT_EXPECT_EQ(test, dev_cgroup_unclassified_buffers(), before + 2);
	devcg_test_cg_remove(test, cg);
}

/* Undo steps of coherent_pool_buffers_charged_to_the_pool, run even if it aborts. */
static void put_pci_dev(void *pdev)
{
	pci_dev_put(pdev);
}

static void disable_pci_dev(void *pdev)
{
	pci_disable_device(pdev);
}

static void release_coherent_pool(void *dev)
{
	dma_release_coherent_memory(dev);
}

static void put_dma_contig_buffer(void *buf)
{
	vb2_dma_contig_memops.put(buf);
}

/*
 * A per-device coherent pool (dma_declare_coherent_memory(), here on the
 * shared-memory BAR of QEMU's ivshmem device, memory that is not system RAM)
 * is a region of its own while it exists, and its buffers are charged to it
 * for the block the pool takes (a bitmap region of order get_order(size)).
 */
static void coherent_pool_buffers_charged_to_the_pool(struct kunit *test)
{
	struct vb2_ctx *ctx = test->priv;
	struct dentry *root = devcg_test_mnt->mnt_root;
	struct pci_dev *shm = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110, NULL);
	struct devcg_test_cg *cg;
	char device[64], *capacity;
	resource_size_t phys, size;
	u64 pool_usage, ram_usage;
	void *buf;

	if (!shm)
		kunit_skip(test, "no ivshmem device (QEMU -device ivshmem-plain, as scripts/test.sh adds)");
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_pci_dev, shm), 0);
	phys = pci_resource_start(shm, 2);
	size = min_t(resource_size_t, pci_resource_len(shm, 2), SZ_4M);
	KUNIT_ASSERT_TRUE(test, pci_resource_flags(shm, 2) & IORESOURCE_MEM);
	KUNIT_ASSERT_NE(test, phys, 0);
	KUNIT_ASSERT_GE(test, size, (resource_size_t)SZ_1M);
	KUNIT_ASSERT_EQ(test, pci_enable_device_mem(shm), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, disable_pci_dev, shm), 0);
	KUNIT_ASSERT_EQ(test, dma_declare_coherent_memory(ctx->dev, phys, phys, size), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, release_coherent_pool, ctx->dev), 0);
	snprintf(device, sizeof(device), "dma-pool/%s", dev_name(ctx->dev));
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, root, "dev.capacity", device, "region.pool"),
			(u64)size);

	cg = devcg_test_cg_create(test, NULL, "kunit_vb2_pool");
	buf = alloc_in(test, cg, &vb2_dma_contig_memops, 96 * SZ_1K);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(buf));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_dma_contig_buffer, buf), 0);
	pool_usage = usage(test, cg, device, "region.pool");
	ram_usage = usage(test, cg, "system", "region.ram");
	KUNIT_EXPECT_EQ(test, pool_usage, (u64)SZ_128K);
	KUNIT_EXPECT_EQ(test, ram_usage, 0ull);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	kunit_release_action(test, put_dma_contig_buffer, buf);
	KUNIT_EXPECT_EQ(test, usage(test, cg, device, "region.pool"), 0ull);
	devcg_test_cg_remove(test, cg);

	kunit_release_action(test, release_coherent_pool, ctx->dev);
	capacity = kunit_kzalloc(test, 4096, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, capacity);
	KUNIT_ASSERT_EQ(test, devcg_test_read(root, "dev.capacity", capacity, 4096), 0);
	KUNIT_EXPECT_NULL(test, strstr(capacity, device));
}

static struct kunit_case dev_cgroup_vb2_cases[] = {
	KUNIT_CASE(dma_contig_buffer_charged_to_its_cma_area),
	KUNIT_CASE(dma_contig_single_page_charged_to_system_ram),
	KUNIT_CASE(dma_contig_refused_at_limit),
	KUNIT_CASE(dma_sg_buffer_charged_to_system_ram),
	KUNIT_CASE(vmalloc_buffer_charged_and_refused),
	KUNIT_CASE(dma_contig_refused_before_taking_memory),
	KUNIT_CASE(dma_contig_page_allocator_buffer_costs_its_whole_block),
	KUNIT_CASE(dma_contig_non_coherent_buffer_charged_to_its_cma_area),
	KUNIT_CASE(dma_sg_refused_at_limit),
	KUNIT_CASE(unclassified_memory_charged_to_ram_and_counted),
	KUNIT_CASE(coherent_pool_buffers_charged_to_the_pool),
	{}
};

static struct kunit_suite dev_cgroup_vb2_suite = {
	.name = "dev_cgroup_vb2",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.init = vb2_test_init,
	.test_cases = dev_cgroup_vb2_cases,
};
kunit_test_suite(dev_cgroup_vb2_suite);
