// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the GEM DMA helper adapter (src/adapters/drm_gem_dma.rs): a
 * DRM device made with the DRM KUnit helpers and DRM_GEM_DMA_DRIVER_OPS, as
 * tidss uses them, creates dumb buffers through drm_mode_create_dumb() for a
 * DRM file, from inside a test cgroup.
 */

#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_dma_helper.h>
#include <drm/drm_kunit_helpers.h>
#include <drm/drm_mode.h>
#include <drm/drm_prime.h>

/* Not exported to drivers: the ioctl-level entry points and DRM files. */
#include "drm_crtc_internal.h"
#include "drm_internal.h"

#include "cgroupfs.h"

DEFINE_DRM_GEM_DMA_FOPS(gem_dma_test_fops);

static const struct drm_driver gem_dma_test_driver = {
	.driver_features = DRIVER_GEM | DRIVER_MODESET,
	DRM_GEM_DMA_DRIVER_OPS,
	.fops = &gem_dma_test_fops,
	.name = "devcg_gem_dma",
	.desc = "dev cgroup GEM DMA test",
	.major = 1,
};

struct gem_dma_ctx {
	struct drm_device *drm;
	struct drm_file *file;
};

static int gem_dma_test_init(struct kunit *test)
{
	struct gem_dma_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	struct device *dev;

	if (!ctx)
		return -ENOMEM;
	dev = drm_kunit_helper_alloc_device(test);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	dev->coherent_dma_mask = DMA_BIT_MASK(32);
	dev->dma_mask = &dev->coherent_dma_mask;
	ctx->drm = __drm_kunit_helper_alloc_drm_device_with_driver(test, dev, sizeof(*ctx->drm), 0,
								   &gem_dma_test_driver);
	if (IS_ERR(ctx->drm))
		return PTR_ERR(ctx->drm);
	ctx->file = drm_file_alloc(ctx->drm->primary);
	if (IS_ERR(ctx->file))
		return PTR_ERR(ctx->file);
	test->priv = ctx;
	return 0;
}

static void gem_dma_test_exit(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;

	if (ctx && !IS_ERR_OR_NULL(ctx->file))
		drm_file_free(ctx->file);
}

/* DRM_IOCTL_MODE_CREATE_DUMB as @cg's task would issue it. */
static int create_dumb_in(struct kunit *test, struct devcg_test_cg *cg, u32 width, u32 height,
			  struct drm_mode_create_dumb *args)
{
	struct gem_dma_ctx *ctx = test->priv;
	int ret;

	memset(args, 0, sizeof(*args));
	args->width = width;
	args->height = height;
	args->bpp = 32;
	devcg_test_enter(test, cg);
	ret = drm_mode_create_dumb(ctx->drm, args, ctx->file);
	devcg_test_enter(test, NULL);
	return ret;
}

static u64 usage(struct kunit *test, struct devcg_test_cg *cg, const char *device,
		 const char *key)
{
	return devcg_test_value(test, cg->dentry, "dev.current", device, key);
}

/* 256x256x32 bpp (256 KiB) comes from the CMA area; a 32x32 (one page) buffer from the page allocator. */
static void dumb_buffers_charged_to_the_memory_they_got(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma");
	struct drm_mode_create_dumb big, small;

	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 256, 256, &big), 0);
	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 32, 32, &small), 0);
	KUNIT_EXPECT_EQ(test, big.size, (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.stat", "cma",
					       "region.reserved.drm"), (u64)SZ_256K);

	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, big.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, small.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* Over dev.max the create fails with -ENOMEM and no handle or charge remains. */
static void dumb_create_refused_at_limit(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_limit");
	struct drm_mode_create_dumb fits, refused;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "cma region.reserved=384K"), 0);
	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 256, 256, &fits), 0);
	KUNIT_EXPECT_EQ(test, create_dumb_in(test, cg, 256, 256, &refused), -ENOMEM);
	KUNIT_EXPECT_EQ(test, refused.handle, 0u);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.events", "cma",
					       "region.reserved.max"), 1ull);
	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, fits.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* A buffer still open when the DRM file closes is uncharged with it. */
static void closing_the_file_uncharges(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_close");
	struct drm_mode_create_dumb args;

	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 256, 256, &args), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	drm_file_free(ctx->file);
	ctx->file = NULL;
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * A PRIME export keeps the object, its memory and its charge after the
 * handle is gone, until the dma-buf's last reference is dropped.
 */
static void prime_export_outlives_its_handle(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_prime");
	struct drm_mode_create_dumb args;
	struct dma_buf *dmabuf;

	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 256, 256, &args), 0);
	dmabuf = drm_gem_prime_handle_to_dmabuf(ctx->drm, ctx->file, args.handle, O_RDWR);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dmabuf));
	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, args.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	dma_buf_put(dmabuf);
	/* A kernel thread's last fput is deferred: run it now. */
	flush_delayed_fput();
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * Charge transfer: a PRIME export of an object made in one cgroup is taken
 * by a task of another (DEV_CGROUP_IOC_TAKE's core, as the dma-buf ioctl
 * calls it): charged there, uncharged from the maker, the consumer kept;
 * taking again changes nothing; the charge goes with the last reference.
 */
/* What the dma-buf's fdinfo says about who pays, into @line. */
static void payer_line(struct dma_buf *dmabuf, char *line, size_t len)
{
	struct seq_file m = { .buf = line, .size = len };

	memset(line, 0, len);
	dev_cgroup_dma_buf_show_fdinfo(&m, dmabuf);
}

/* A task of @cg takes @dmabuf's charge: the take's errno, bytes in @bytes. */
static int take_in(struct kunit *test, struct devcg_test_cg *cg, struct dma_buf *dmabuf,
		   u64 *bytes)
{
	int ret;

	devcg_test_enter(test, cg);
	ret = dev_cgroup_charge_take(dmabuf->devcg_charge, bytes);
	devcg_test_enter(test, NULL);
	return ret;
}

static void prime_export_taken_by_the_receiver(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *maker = devcg_test_cg_create(test, NULL, "kunit_gem_dma_maker");
	struct devcg_test_cg *receiver = devcg_test_cg_create(test, NULL, "kunit_gem_dma_receiver");
	struct drm_mode_create_dumb args;
	struct dma_buf *dmabuf;
	char line[128];
	u64 bytes = 0;

	KUNIT_ASSERT_EQ(test, create_dumb_in(test, maker, 256, 256, &args), 0);
	dmabuf = drm_gem_prime_handle_to_dmabuf(ctx->drm, ctx->file, args.handle, O_RDWR);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dmabuf));
	/* The GEM DMA helper's PRIME export gave the dma-buf its record. */
	KUNIT_ASSERT_NOT_NULL(test, dmabuf->devcg_charge);
	KUNIT_EXPECT_EQ(test, usage(test, maker, "cma", "region.reserved"), (u64)SZ_256K);
	payer_line(dmabuf, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line,
			   "dev_cgroup:\t/kunit_gem_dma_maker cma region.reserved=262144\n");

	KUNIT_EXPECT_EQ(test, take_in(test, receiver, dmabuf, &bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, usage(test, maker, "cma", "region.reserved"), 0ull);
	KUNIT_EXPECT_EQ(test, usage(test, receiver, "cma", "region.reserved"), (u64)SZ_256K);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, receiver->dentry, "dev.stat", "cma",
					       "region.reserved.drm"), (u64)SZ_256K);
	payer_line(dmabuf, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line,
			   "dev_cgroup:\t/kunit_gem_dma_receiver cma region.reserved=262144\n");

	/* Taken again by the same cgroup: nothing moves. */
	KUNIT_EXPECT_EQ(test, take_in(test, receiver, dmabuf, &bytes), 0);
	KUNIT_EXPECT_EQ(test, usage(test, receiver, "cma", "region.reserved"), (u64)SZ_256K);

	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, args.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, receiver, "cma", "region.reserved"), (u64)SZ_256K);
	dma_buf_put(dmabuf);
	flush_delayed_fput();
	KUNIT_EXPECT_EQ(test, usage(test, receiver, "cma", "region.reserved"), 0ull);
	KUNIT_EXPECT_EQ(test, usage(test, maker, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, receiver);
	devcg_test_cg_remove(test, maker);
}

/*
 * 1.2 MiB from the page allocator (a 24-bit DMA mask keeps the CMA area out
 * of reach) is one block of order 9: 2 MiB are gone, and 2 MiB are charged.
 */
static void page_allocator_buffers_cost_their_whole_block(struct kunit *test)
{
	struct gem_dma_ctx *ctx = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_order");
	struct drm_mode_create_dumb args;

	ctx->drm->dev->coherent_dma_mask = DMA_BIT_MASK(24);
	/* 640x480x32 bpp: 1200 KiB. */
	KUNIT_ASSERT_EQ(test, create_dumb_in(test, cg, 640, 480, &args), 0);
	KUNIT_EXPECT_EQ(test, args.size, 1200ull * SZ_1K);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), (u64)SZ_2M);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	KUNIT_EXPECT_EQ(test, drm_mode_destroy_dumb(ctx->drm, args.handle, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "system", "region.ram"), 0ull);
	devcg_test_cg_remove(test, cg);
}

static struct kunit_case dev_cgroup_gem_dma_cases[] = {
	KUNIT_CASE(dumb_buffers_charged_to_the_memory_they_got),
	KUNIT_CASE(dumb_create_refused_at_limit),
	KUNIT_CASE(closing_the_file_uncharges),
	KUNIT_CASE(page_allocator_buffers_cost_their_whole_block),
	KUNIT_CASE(prime_export_outlives_its_handle),
	KUNIT_CASE(prime_export_taken_by_the_receiver),
	{}
};

static struct kunit_suite dev_cgroup_gem_dma_suite = {
	.name = "dev_cgroup_drm_gem_dma",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.init = gem_dma_test_init,
	.exit = gem_dma_test_exit,
	.test_cases = dev_cgroup_gem_dma_cases,
};
kunit_test_suite(dev_cgroup_gem_dma_suite);

/*
 * A driver that keeps objects with memory for reuse, as vc4 does:
 * vc4_free_object() puts an object whose vaddr is set on a per-size cache
 * list instead of freeing it, and vc4_bo_create() takes one of the right size
 * from there before asking the helper for a new one, so without a charge.
 */
struct caching_bo {
	struct drm_gem_dma_object base;
	struct list_head cache_link;
};

struct caching_drm {
	struct drm_device drm;
	struct list_head cache;
	/* Made objects map_noncoherent, as ingenic does on some SoCs. */
	bool noncoherent;
};

static void caching_free_object(struct drm_gem_object *obj)
{
	struct caching_drm *cdrm = container_of(obj->dev, struct caching_drm, drm);
	struct caching_bo *bo = container_of(to_drm_gem_dma_obj(obj), struct caching_bo, base);

	if (bo->base.vaddr) {
		list_add(&bo->cache_link, &cdrm->cache);
		return;
	}
	drm_gem_dma_free(&bo->base);
}

static const struct drm_gem_object_funcs caching_bo_funcs = {
	.free = caching_free_object,
	.vm_ops = &drm_gem_dma_vm_ops,
};

static struct drm_gem_object *caching_create_object(struct drm_device *drm, size_t size)
{
	struct caching_drm *cdrm = container_of(drm, struct caching_drm, drm);
	struct caching_bo *bo = kzalloc(sizeof(*bo), GFP_KERNEL);

	if (!bo)
		return ERR_PTR(-ENOMEM);
	bo->base.base.funcs = &caching_bo_funcs;
	bo->base.map_noncoherent = cdrm->noncoherent;
	INIT_LIST_HEAD(&bo->cache_link);
	return &bo->base.base;
}

static const struct drm_driver caching_test_driver = {
	.driver_features = DRIVER_GEM,
	.gem_create_object = caching_create_object,
	.fops = &gem_dma_test_fops,
	.name = "devcg_gem_cache",
	.desc = "dev cgroup GEM DMA caching test",
	.major = 1,
};

/* As vc4_bo_create(): the cache first, then the helper. */
static struct drm_gem_dma_object *caching_bo_create(struct kunit *test, struct caching_drm *cdrm,
						    struct devcg_test_cg *cg, size_t size)
{
	struct drm_gem_dma_object *obj;
	struct caching_bo *bo;

	list_for_each_entry(bo, &cdrm->cache, cache_link) {
		if (bo->base.base.size == size) {
			list_del_init(&bo->cache_link);
			kref_init(&bo->base.base.refcount);
			return &bo->base;
		}
	}
	devcg_test_enter(test, cg);
	obj = drm_gem_dma_create(&cdrm->drm, size);
	devcg_test_enter(test, NULL);
	return obj;
}

static int caching_test_init(struct kunit *test)
{
	struct caching_drm *cdrm;
	struct device *dev;

	dev = drm_kunit_helper_alloc_device(test);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	dev->coherent_dma_mask = DMA_BIT_MASK(32);
	dev->dma_mask = &dev->coherent_dma_mask;
	cdrm = drm_kunit_helper_alloc_drm_device_with_driver(test, dev, struct caching_drm, drm,
							     &caching_test_driver);
	if (IS_ERR(cdrm))
		return PTR_ERR(cdrm);
	INIT_LIST_HEAD(&cdrm->cache);
	test->priv = cdrm;
	return 0;
}

/* Frees what the driver cached, as vc4's cache purge does. */
static unsigned int caching_drm_purge(struct caching_drm *cdrm)
{
	struct caching_bo *bo, *next;
	unsigned int n = 0;

	list_for_each_entry_safe(bo, next, &cdrm->cache, cache_link) {
		list_del_init(&bo->cache_link);
		drm_gem_dma_free(&bo->base);
		n++;
	}
	return n;
}

/*
 * A refused buffer's memory is freed before the driver sees the object, so
 * a caching driver never keeps it and never hands it out uncharged.
 */
static void a_refused_buffer_never_reaches_a_caching_driver(struct kunit *test)
{
	struct caching_drm *cdrm = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_cache");
	struct drm_gem_dma_object *fits, *refused, *again;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "cma region.reserved=384K"), 0);
	fits = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fits));
	refused = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, list_empty(&cdrm->cache));
	again = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(again), -ENOMEM);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	if (!IS_ERR(again))
		drm_gem_object_put(&again->base);

	/* Freed by its last put, a charged object is cached with its charge... */
	drm_gem_object_put(&fits->base);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	/* ...which the purge gives back with the memory. */
	KUNIT_EXPECT_EQ(test, caching_drm_purge(cdrm), 1u);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * With no room in any region the memory could come from, the create fails
 * before any is taken (CMA is not even asked), and counts the refusal.
 */
static void no_memory_is_taken_without_room_anywhere(struct kunit *test)
{
	struct caching_drm *cdrm = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_room");
	struct drm_gem_dma_object *fits, *refused;
	int without_room, with_room;

	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max",
					       "cma region.reserved=384K\nsystem region.ram=128K"), 0);
	fits = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fits));
	KUNIT_ASSERT_EQ(test, devcg_test_cma_allocs_start(test), 0);
	refused = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	without_room = devcg_test_cma_allocs();
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, cg->dentry, "dev.events", "cma",
					       "region.reserved.max"), 1ull);
	/* Room in the page allocator is enough to try. */
	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "system region.ram=max"), 0);
	refused = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	with_room = devcg_test_cma_allocs_stop(test);
	KUNIT_EXPECT_EQ(test, without_room, 0);
	KUNIT_EXPECT_EQ(test, with_room, 1);
	drm_gem_object_put(&fits->base);
	caching_drm_purge(cdrm);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/*
 * map_noncoherent objects (dma_alloc_noncoherent()) are found in their CMA
 * area and, refused, freed by the matching call before the driver sees them.
 */
static void noncoherent_objects_charged_and_freed_on_refusal(struct kunit *test)
{
	struct caching_drm *cdrm = test->priv;
	struct devcg_test_cg *cg = devcg_test_cg_create(test, NULL, "kunit_gem_dma_noncoherent");
	struct drm_gem_dma_object *fits, *refused;

	cdrm->noncoherent = true;
	KUNIT_ASSERT_EQ(test, devcg_test_write(cg->dentry, "dev.max", "cma region.reserved=384K"), 0);
	fits = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fits));
	KUNIT_EXPECT_TRUE(test, fits->map_noncoherent);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), (u64)SZ_256K);
	refused = caching_bo_create(test, cdrm, cg, SZ_256K);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(refused), -ENOMEM);
	KUNIT_EXPECT_TRUE(test, list_empty(&cdrm->cache));
	drm_gem_object_put(&fits->base);
	KUNIT_EXPECT_EQ(test, caching_drm_purge(cdrm), 1u);
	KUNIT_EXPECT_EQ(test, usage(test, cg, "cma", "region.reserved"), 0ull);
	devcg_test_cg_remove(test, cg);
}

/* What a failed test left in the cache goes, with its charges. */
static void caching_test_exit(struct kunit *test)
{
	struct caching_drm *cdrm = test->priv;

	if (cdrm)
		caching_drm_purge(cdrm);
}

static struct kunit_case dev_cgroup_gem_dma_cache_cases[] = {
	KUNIT_CASE(a_refused_buffer_never_reaches_a_caching_driver),
	KUNIT_CASE(no_memory_is_taken_without_room_anywhere),
	KUNIT_CASE(noncoherent_objects_charged_and_freed_on_refusal),
	{}
};

/* The GEM DMA helper under a driver that caches objects as vc4 does. */
static struct kunit_suite dev_cgroup_gem_dma_cache_suite = {
	.name = "dev_cgroup_drm_gem_dma_cache",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.init = caching_test_init,
	.exit = caching_test_exit,
	.test_cases = dev_cgroup_gem_dma_cache_cases,
};
kunit_test_suite(dev_cgroup_gem_dma_cache_suite);
