// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the GEM DMA helper adapter (src/adapters/drm_gem_dma.rs): a
 * DRM device made with the DRM KUnit helpers and DRM_GEM_DMA_DRIVER_OPS, as
 * tidss uses them, creates dumb buffers through drm_mode_create_dumb() for a
 * DRM file, from inside a test cgroup.
 */

#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/dma-mapping.h>
#include <linux/sizes.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_dma_helper.h>
#include <drm/drm_kunit_helpers.h>
#include <drm/drm_mode.h>

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

static struct kunit_case dev_cgroup_gem_dma_cases[] = {
	KUNIT_CASE(dumb_buffers_charged_to_the_memory_they_got),
	KUNIT_CASE(dumb_create_refused_at_limit),
	KUNIT_CASE(closing_the_file_uncharges),
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
