// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of VRAM accounting and cgroup-aware eviction at the TTM level
 * (patches/0006, src/adapters/ttm.rs): a TTM device with a real range manager
 * for VRAM, as the GEM VRAM helper sets it up, whose region is a test device
 * of the controller. Buffer objects are created from inside test cgroups;
 * moves only swap resources (ttm_bo_move_null), so eviction is observable as
 * a buffer's resource going from VRAM to system memory.
 */

#include <kunit/test.h>
#include <linux/cgroup_dev.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/sizes.h>

#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_kunit_helpers.h>
#include <drm/ttm/ttm_bo.h>
#include <drm/ttm/ttm_device.h>
#include <drm/ttm/ttm_placement.h>
#include <drm/ttm/ttm_range_manager.h>
#include <drm/ttm/ttm_tt.h>

#include "cgroupfs.h"

#define DEV "kunit_ttm"
#define BO_SIZE SZ_1M
#define VRAM_SIZE (4 * BO_SIZE)

struct ttm_ctx {
	struct drm_device *drm;
	struct ttm_device ttm;
	struct dev_cgroup_device *dev;
	bool ttm_ready;
};

static struct ttm_tt *tt_create(struct ttm_buffer_object *bo, u32 page_flags)
{
	struct ttm_tt *tt = kzalloc(sizeof(*tt), GFP_KERNEL);

	if (tt && ttm_tt_init(tt, bo, page_flags, ttm_cached, 0)) {
		kfree(tt);
		return NULL;
	}
	return tt;
}

static void tt_destroy(struct ttm_device *bdev, struct ttm_tt *tt)
{
	ttm_tt_fini(tt);
	kfree(tt);
}

/*
 * A charge a test arms to happen at the next eviction, as a sibling's
 * concurrent allocation would: between TTM's failed placement and its retry.
 */
static struct {
	bool armed;
	/* At the next move (a buffer just evicted), else the next eviction_valuable. */
	bool at_move;
	u64 size;
	struct cgroup_subsys_state *css;
	struct dev_cgroup_region *region;
	struct dev_cgroup_pool *pool;
	int ret;
} charge_at_eviction;

/* Disarms, and gives back what was charged; also run if a test aborts. */
static void disarm_charge_at_eviction(void *unused)
{
	charge_at_eviction.armed = false;
	if (!charge_at_eviction.ret && charge_at_eviction.pool)
		dev_cgroup_uncharge(charge_at_eviction.pool, charge_at_eviction.size);
	charge_at_eviction.pool = NULL;
	charge_at_eviction.ret = -EINVAL;
}

static void charge_now_if_armed(bool at_move)
{
	if (!charge_at_eviction.armed || charge_at_eviction.at_move != at_move)
		return;
	charge_at_eviction.armed = false;
	charge_at_eviction.ret =
		dev_cgroup_try_charge_css(charge_at_eviction.css, charge_at_eviction.region,
					  charge_at_eviction.size, DEV_CGROUP_CONSUMER_DRM,
					  &charge_at_eviction.pool, NULL);
}

/* Arms charge_at_eviction: @size bytes to @cg, at the next move or eviction_valuable. */
static void arm_charge_at_eviction(struct kunit *test, struct devcg_test_cg *cg, u64 size,
				   bool at_move)
{
	struct ttm_ctx *ctx = test->priv;

	charge_at_eviction.css = cg->css;
	charge_at_eviction.region = dev_cgroup_device_region(ctx->dev, 0);
	charge_at_eviction.size = size;
	charge_at_eviction.at_move = at_move;
	charge_at_eviction.pool = NULL;
	charge_at_eviction.ret = -EINVAL;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, disarm_charge_at_eviction, NULL), 0);
	charge_at_eviction.armed = true;
}

/* A fence a test signals when it wants: the end of a pretend GPU copy. */
static const char *test_fence_name(struct dma_fence *fence)
{
	return "devcg_kunit";
}

static const struct dma_fence_ops test_fence_ops = {
	.get_driver_name = test_fence_name,
	.get_timeline_name = test_fence_name,
};

static DEFINE_SPINLOCK(test_fence_lock);

static struct dma_fence *test_fence_create(struct kunit *test)
{
	struct dma_fence *fence = kzalloc(sizeof(*fence), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, fence);
	dma_fence_init(fence, &test_fence_ops, &test_fence_lock, dma_fence_context_alloc(1), 1);
	return fence;
}

/* While set, moves are "accelerated": they end when this fence signals. */
static struct dma_fence *move_fence;

static int move_by_swapping_resources(struct ttm_buffer_object *bo, bool evict,
				      struct ttm_operation_ctx *ctx,
				      struct ttm_resource *new_mem, struct ttm_place *hop)
{
	if (move_fence)
		return ttm_bo_move_accel_cleanup(bo, move_fence, evict, false, new_mem);
	ttm_bo_move_null(bo, new_mem);
	charge_now_if_armed(true);
	return 0;
}

static const struct ttm_place system_place = { .mem_type = TTM_PL_SYSTEM };

static void evict_to_system(struct ttm_buffer_object *bo, struct ttm_placement *placement)
{
	placement->num_placement = 1;
	placement->placement = &system_place;
}

static bool eviction_valuable(struct ttm_buffer_object *bo, const struct ttm_place *place)
{
	charge_now_if_armed(false);
	return ttm_bo_eviction_valuable(bo, place);
}

static struct ttm_device_funcs test_ttm_funcs = {
	.ttm_tt_create = tt_create,
	.ttm_tt_destroy = tt_destroy,
	.move = move_by_swapping_resources,
	.eviction_valuable = eviction_valuable,
	.evict_flags = evict_to_system,
};

static const struct ttm_placement system_only = { .num_placement = 1, .placement = &system_place };
/* VRAM only: a full VRAM means evict or fail. */
static const struct ttm_place vram_place = { .mem_type = TTM_PL_VRAM };
static const struct ttm_placement vram_only = { .num_placement = 1, .placement = &vram_place };
/* VRAM, else (after trying to evict) system memory, as drivers express it. */
static const struct ttm_place vram_then_system_places[] = {
	{ .mem_type = TTM_PL_VRAM },
	{ .mem_type = TTM_PL_SYSTEM, .flags = TTM_PL_FLAG_FALLBACK },
};
static const struct ttm_placement vram_then_system = {
	.num_placement = 2, .placement = vram_then_system_places,
};

static int ttm_test_init(struct kunit *test)
{
	static const struct dev_cgroup_region_desc vram = { .name = "vram", .capacity = VRAM_SIZE };
	struct ttm_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	struct ttm_resource_manager *man;
	struct device *dev;
	int ret;

	if (!ctx)
		return -ENOMEM;
	test->priv = ctx;
	dev = drm_kunit_helper_alloc_device(test);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	ctx->drm = __drm_kunit_helper_alloc_drm_device(test, dev, sizeof(*ctx->drm), 0, DRIVER_GEM);
	if (IS_ERR(ctx->drm))
		return PTR_ERR(ctx->drm);
	ret = ttm_device_init(&ctx->ttm, &test_ttm_funcs, dev, ctx->drm->anon_inode->i_mapping,
			      ctx->drm->vma_offset_manager, false, false);
	if (ret)
		return ret;
	ctx->ttm_ready = true;
	ret = ttm_range_man_init(&ctx->ttm, TTM_PL_VRAM, false, VRAM_SIZE >> PAGE_SHIFT);
	if (ret)
		return ret;
	ctx->dev = dev_cgroup_register_device(DEV, &vram, 1);
	if (IS_ERR(ctx->dev))
		return PTR_ERR(ctx->dev);
	man = ttm_manager_type(&ctx->ttm, TTM_PL_VRAM);
	man->devcg_region = dev_cgroup_device_region(ctx->dev, 0);
	return 0;
}

static void ttm_test_exit(struct kunit *test)
{
	struct ttm_ctx *ctx = test->priv;

	if (!ctx || !ctx->ttm_ready)
		return;
	if (ttm_manager_type(&ctx->ttm, TTM_PL_VRAM))
		ttm_range_man_fini(&ctx->ttm, TTM_PL_VRAM);
	ttm_device_fini(&ctx->ttm);
	if (!IS_ERR_OR_NULL(ctx->dev))
		dev_cgroup_unregister_device(ctx->dev);
}

static void bo_destroy(struct ttm_buffer_object *bo)
{
	drm_gem_object_release(&bo->base);
	kfree(bo);
}

/* A 1 MiB buffer object created by a task of @cg, placed per @placement, pinned if asked. */
static struct ttm_buffer_object *bo_create(struct kunit *test, struct devcg_test_cg *cg,
					   const struct ttm_placement *placement, bool pin)
{
	struct ttm_ctx *ctx = test->priv;
	struct ttm_operation_ctx op = { .interruptible = false };
	struct ttm_buffer_object *bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, bo);
	drm_gem_private_object_init(ctx->drm, &bo->base, BO_SIZE);
	devcg_test_enter(test, cg);
	ret = ttm_bo_init_reserved(&ctx->ttm, bo, ttm_bo_type_kernel,
				   (struct ttm_placement *)placement, 0, &op, NULL, NULL,
				   bo_destroy);
	devcg_test_enter(test, NULL);
	KUNIT_ASSERT_EQ(test, ret, 0);
	if (pin)
		ttm_bo_pin(bo);
	dma_resv_unlock(bo->base.resv);
	return bo;
}

static void bo_free(struct ttm_buffer_object *bo)
{
	dma_resv_lock(bo->base.resv, NULL);
	if (bo->pin_count)
		ttm_bo_unpin(bo);
	dma_resv_unlock(bo->base.resv);
	ttm_bo_put(bo);
}

/* Validates @bo into @placement as a task of @cg would (NULL: the test's own). */
static int bo_place(struct kunit *test, struct ttm_buffer_object *bo,
		    const struct ttm_placement *placement, struct devcg_test_cg *cg)
{
	struct ttm_operation_ctx op = { .interruptible = false };
	int ret;

	dma_resv_lock(bo->base.resv, NULL);
	ret = dma_resv_reserve_fences(bo->base.resv, 1);
	if (ret) {
		dma_resv_unlock(bo->base.resv);
		return ret;
	}
	devcg_test_enter(test, cg);
	ret = ttm_bo_validate(bo, (struct ttm_placement *)placement, &op);
	devcg_test_enter(test, NULL);
	dma_resv_unlock(bo->base.resv);
	return ret;
}

static bool in_vram(struct ttm_buffer_object *bo)
{
	return bo->resource && bo->resource->mem_type == TTM_PL_VRAM;
}

static u64 vram_of(struct kunit *test, struct devcg_test_cg *cg)
{
	return devcg_test_value(test, cg->dentry, "dev.current", DEV, "region.vram");
}

/* Resident buffers are charged to the cgroup that created them; system-memory ones are not. */
static void resident_buffers_charged_to_their_creator(struct kunit *test)
{
	struct devcg_test_cg *a = devcg_test_cg_create(test, NULL, "kunit_ttm_owner");
	struct ttm_buffer_object *v1 = bo_create(test, a, &vram_only, false);
	struct ttm_buffer_object *v2 = bo_create(test, a, &vram_only, false);
	struct ttm_buffer_object *s = bo_create(test, a, &system_only, false);

	KUNIT_EXPECT_TRUE(test, in_vram(v1) && in_vram(v2));
	KUNIT_EXPECT_FALSE(test, in_vram(s));
	KUNIT_EXPECT_EQ(test, vram_of(test, a), 2ull * BO_SIZE);
	KUNIT_EXPECT_EQ(test, devcg_test_value(test, a->dentry, "dev.stat", DEV, "region.vram.drm"),
			2ull * BO_SIZE);
	bo_free(v1);
	KUNIT_EXPECT_EQ(test, vram_of(test, a), (u64)BO_SIZE);
	bo_free(v2);
	bo_free(s);
	KUNIT_EXPECT_EQ(test, vram_of(test, a), 0ull);
	devcg_test_cg_remove(test, a);
}

/*
 * A parent limited to 3 MiB: b's two buffers are covered by dev.min, a's one
 * is not. a's next buffer evicts a's old one (the unprotected buffer of the
 * limiting subtree), not b's older, protected ones, and not the root's.
 */
static void limit_evicts_unprotected_buffers_of_its_subtree(struct kunit *test)
{
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_ttm_limit");
	struct devcg_test_cg *a = devcg_test_cg_create(test, p, "a");
	struct devcg_test_cg *b = devcg_test_cg_create(test, p, "b");
	struct ttm_buffer_object *b1, *b2, *a1, *a2, *outside;

	outside = bo_create(test, NULL, &vram_only, false);
	KUNIT_ASSERT_EQ(test, devcg_test_write(b->dentry, "dev.min", DEV " region.vram=2M"), 0);
	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.max", DEV " region.vram=3M"), 0);
	b1 = bo_create(test, b, &vram_only, false);
	b2 = bo_create(test, b, &vram_only, false);
	a1 = bo_create(test, a, &vram_only, false);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 3ull * BO_SIZE);

	a2 = bo_create(test, a, &vram_only, false);
	KUNIT_EXPECT_TRUE(test, in_vram(a2));
	KUNIT_EXPECT_FALSE(test, in_vram(a1));
	KUNIT_EXPECT_TRUE(test, in_vram(b1) && in_vram(b2));
	KUNIT_EXPECT_TRUE(test, in_vram(outside));
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 3ull * BO_SIZE);
	KUNIT_EXPECT_EQ(test, vram_of(test, a), (u64)BO_SIZE);
	KUNIT_EXPECT_GE(test, devcg_test_value(test, p->dentry, "dev.events.local", DEV,
					       "region.vram.max"), 1ull);

	bo_free(a1);
	bo_free(a2);
	bo_free(b1);
	bo_free(b2);
	bo_free(outside);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 0ull);
	devcg_test_cg_remove(test, a);
	devcg_test_cg_remove(test, b);
	devcg_test_cg_remove(test, p);
}

/*
 * VRAM itself full: another cgroup's buffers within effective dev.min are
 * never evicted for it; unprotected ones go first; when only protected ones
 * are left the new buffer falls back to system memory.
 */
static void full_vram_never_evicts_min_protected_buffers(struct kunit *test)
{
	struct devcg_test_cg *x = devcg_test_cg_create(test, NULL, "kunit_ttm_min");
	struct devcg_test_cg *y = devcg_test_cg_create(test, NULL, "kunit_ttm_plain");
	struct devcg_test_cg *z = devcg_test_cg_create(test, NULL, "kunit_ttm_newcomer");
	struct ttm_buffer_object *x1, *x2, *y1, *y2, *z1, *z2, *z3;

	KUNIT_ASSERT_EQ(test, devcg_test_write(x->dentry, "dev.min", DEV " region.vram=2M"), 0);
	x1 = bo_create(test, x, &vram_only, false);
	x2 = bo_create(test, x, &vram_only, false);
	y1 = bo_create(test, y, &vram_only, false);
	y2 = bo_create(test, y, &vram_only, false);

	z1 = bo_create(test, z, &vram_then_system, true);
	z2 = bo_create(test, z, &vram_then_system, true);
	KUNIT_EXPECT_TRUE(test, in_vram(z1) && in_vram(z2));
	KUNIT_EXPECT_FALSE(test, in_vram(y1) || in_vram(y2));
	KUNIT_EXPECT_EQ(test, vram_of(test, y), 0ull);

	z3 = bo_create(test, z, &vram_then_system, true);
	KUNIT_EXPECT_FALSE(test, in_vram(z3));
	KUNIT_EXPECT_TRUE(test, in_vram(x1) && in_vram(x2));
	KUNIT_EXPECT_EQ(test, vram_of(test, x), 2ull * BO_SIZE);

	bo_free(z3);
	bo_free(z2);
	bo_free(z1);
	bo_free(y2);
	bo_free(y1);
	bo_free(x2);
	bo_free(x1);
	devcg_test_cg_remove(test, x);
	devcg_test_cg_remove(test, y);
	devcg_test_cg_remove(test, z);
}

/*
 * dev.low only protects while something else can go: with VRAM full of a
 * low-protected cgroup's buffers and pinned ones, they are evicted after all.
 */
static void low_protected_buffers_go_when_nothing_else_can(struct kunit *test)
{
	struct devcg_test_cg *x = devcg_test_cg_create(test, NULL, "kunit_ttm_low");
	struct devcg_test_cg *y = devcg_test_cg_create(test, NULL, "kunit_ttm_plain2");
	struct devcg_test_cg *z = devcg_test_cg_create(test, NULL, "kunit_ttm_newcomer2");
	struct ttm_buffer_object *x1, *x2, *y1, *z1, *z2;

	KUNIT_ASSERT_EQ(test, devcg_test_write(x->dentry, "dev.low", DEV " region.vram=2M"), 0);
	x1 = bo_create(test, x, &vram_only, false);
	x2 = bo_create(test, x, &vram_only, false);
	y1 = bo_create(test, y, &vram_only, false);
	z1 = bo_create(test, z, &vram_only, true);

	/* y1, unprotected, goes before the older low-protected x1 and x2. */
	z2 = bo_create(test, z, &vram_only, true);
	KUNIT_EXPECT_FALSE(test, in_vram(y1));
	KUNIT_EXPECT_TRUE(test, in_vram(x1) && in_vram(x2));
	bo_free(z2);

	/* Refill, then nothing unprotected is left: one low-protected buffer goes. */
	z2 = bo_create(test, z, &vram_only, true);
	bo_free(y1);
	y1 = bo_create(test, y, &vram_only, true);
	KUNIT_EXPECT_TRUE(test, in_vram(y1));
	KUNIT_EXPECT_EQ(test, (int)in_vram(x1) + (int)in_vram(x2), 1);
	KUNIT_EXPECT_EQ(test, vram_of(test, x), (u64)BO_SIZE);

	bo_free(y1);
	bo_free(z2);
	bo_free(z1);
	bo_free(x2);
	bo_free(x1);
	devcg_test_cg_remove(test, x);
	devcg_test_cg_remove(test, y);
	devcg_test_cg_remove(test, z);
}

/*
 * A buffer whose owner cgroup was removed while it was out of VRAM is
 * charged, when it moves back, to the owner's nearest online ancestor (as
 * the memory controller reparents), not to the task that moved it.
 */
static void removed_owners_buffer_returns_charged_to_its_parent(struct kunit *test)
{
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_ttm_reparent");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct devcg_test_cg *mover = devcg_test_cg_create(test, NULL, "kunit_ttm_mover");
	struct ttm_buffer_object *bo = bo_create(test, c, &vram_only, false);
	/* And one that never was in VRAM: c never had a pool for it. */
	struct ttm_buffer_object *never = bo_create(test, c, &system_only, false);

	KUNIT_EXPECT_EQ(test, vram_of(test, c), (u64)BO_SIZE);
	KUNIT_ASSERT_EQ(test, bo_place(test, bo, &system_only, NULL), 0);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 0ull);
	devcg_test_cg_remove(test, c);
	/* The buffer holds the owner's css: it outlives the cgroup, offline. */
	devcg_test_wait_offline(test, bo->devcg_owner);
	KUNIT_ASSERT_EQ(test, bo_place(test, bo, &vram_only, mover), 0);
	KUNIT_ASSERT_EQ(test, bo_place(test, never, &vram_only, mover), 0);
	KUNIT_EXPECT_TRUE(test, in_vram(bo) && in_vram(never));
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 2ull * BO_SIZE);
	KUNIT_EXPECT_EQ(test, vram_of(test, mover), 0ull);
	bo_free(never);
	bo_free(bo);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 0ull);
	devcg_test_cg_remove(test, mover);
	devcg_test_cg_remove(test, p);
}

/*
 * VRAM full, and while a's allocation evicts for room, a sibling fills their
 * parent's limit: the walk goes on under that limit (b's buffer goes), not
 * through other cgroups' buffers that could not help.
 */
static void full_vram_walk_switches_to_a_limit_hit_meanwhile(struct kunit *test)
{
	struct devcg_test_cg *o = devcg_test_cg_create(test, NULL, "kunit_ttm_other");
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_ttm_switch");
	struct devcg_test_cg *a = devcg_test_cg_create(test, p, "a");
	struct devcg_test_cg *b = devcg_test_cg_create(test, p, "b");
	struct ttm_buffer_object *o1, *o2, *o3, *b1, *a1;

	KUNIT_ASSERT_EQ(test, devcg_test_write(p->dentry, "dev.max", DEV " region.vram=2M"), 0);
	o1 = bo_create(test, o, &vram_only, false);
	o2 = bo_create(test, o, &vram_only, false);
	o3 = bo_create(test, o, &vram_only, false);
	b1 = bo_create(test, b, &vram_only, false);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), (u64)BO_SIZE);

	arm_charge_at_eviction(test, b, BO_SIZE, false);
	a1 = bo_create(test, a, &vram_only, false);
	KUNIT_EXPECT_FALSE(test, charge_at_eviction.armed);
	KUNIT_EXPECT_EQ(test, charge_at_eviction.ret, 0);

	KUNIT_EXPECT_TRUE(test, in_vram(a1));
	KUNIT_EXPECT_FALSE(test, in_vram(o1));
	KUNIT_EXPECT_TRUE(test, in_vram(o2) && in_vram(o3));
	KUNIT_EXPECT_FALSE(test, in_vram(b1));
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 2ull * BO_SIZE);

	disarm_charge_at_eviction(NULL);
	bo_free(a1);
	bo_free(b1);
	bo_free(o3);
	bo_free(o2);
	bo_free(o1);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 0ull);
	devcg_test_cg_remove(test, a);
	devcg_test_cg_remove(test, b);
	devcg_test_cg_remove(test, p);
	devcg_test_cg_remove(test, o);
}

/*
 * A walk under a's own limit evicts a's old buffer; meanwhile b fills their
 * parent's limit, which now refuses. The walk switches to the parent's limit
 * and, having passed b's older buffer already, starts over: b1 goes and the
 * buffer is placed (one pass without a ticket used to end in -EBUSY).
 */
static void switched_walk_looks_again_from_the_start(struct kunit *test)
{
	struct devcg_test_cg *q = devcg_test_cg_create(test, NULL, "kunit_ttm_restart");
	struct devcg_test_cg *a = devcg_test_cg_create(test, q, "a");
	struct devcg_test_cg *b = devcg_test_cg_create(test, q, "b");
	struct ttm_buffer_object *b1, *a_old, *a_new;

	KUNIT_ASSERT_EQ(test, devcg_test_write(q->dentry, "dev.max", DEV " region.vram=3M"), 0);
	KUNIT_ASSERT_EQ(test, devcg_test_write(a->dentry, "dev.max", DEV " region.vram=1M"), 0);
	b1 = bo_create(test, b, &vram_only, false);
	a_old = bo_create(test, a, &vram_only, false);
	arm_charge_at_eviction(test, b, 2 * BO_SIZE, true);
	a_new = bo_create(test, a, &vram_only, false);
	KUNIT_EXPECT_EQ(test, charge_at_eviction.ret, 0);
	KUNIT_EXPECT_TRUE(test, in_vram(a_new));
	KUNIT_EXPECT_FALSE(test, in_vram(a_old) || in_vram(b1));
	KUNIT_EXPECT_EQ(test, vram_of(test, q), 3ull * BO_SIZE);
	disarm_charge_at_eviction(NULL);
	bo_free(a_new);
	bo_free(a_old);
	bo_free(b1);
	KUNIT_EXPECT_EQ(test, vram_of(test, q), 0ull);
	devcg_test_cg_remove(test, a);
	devcg_test_cg_remove(test, b);
	devcg_test_cg_remove(test, q);
}

/*
 * A buffer freed while the GPU still uses it (an unsignaled fence) is deleted
 * later, by TTM's delayed delete: it stays charged, as its VRAM stays taken,
 * until then, even after its cgroup is removed.
 */
static void busy_buffer_stays_charged_until_its_delayed_delete(struct kunit *test)
{
	struct ttm_ctx *ctx = test->priv;
	struct devcg_test_cg *p = devcg_test_cg_create(test, NULL, "kunit_ttm_delayed");
	struct devcg_test_cg *c = devcg_test_cg_create(test, p, "c");
	struct ttm_buffer_object *bo = bo_create(test, c, &vram_only, false);
	struct dma_fence *busy = test_fence_create(test);

	dma_resv_lock(bo->base.resv, NULL);
	KUNIT_ASSERT_EQ(test, dma_resv_reserve_fences(bo->base.resv, 1), 0);
	dma_resv_add_fence(bo->base.resv, busy, DMA_RESV_USAGE_KERNEL);
	dma_resv_unlock(bo->base.resv);
	bo_free(bo);
	devcg_test_cg_remove(test, c);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), (u64)BO_SIZE);

	dma_fence_signal(busy);
	flush_workqueue(ctx->ttm.wq);
	KUNIT_EXPECT_EQ(test, vram_of(test, p), 0ull);
	dma_fence_put(busy);
	devcg_test_cg_remove(test, p);
}

/*
 * A move that completes asynchronously (ttm_bo_move_accel_cleanup()) leaves
 * the old VRAM on a ghost object until the copy's fence signals: it stays
 * charged to the buffer's owner until then, and only then is given back.
 */
static void ghost_of_an_accelerated_move_keeps_the_charge_until_done(struct kunit *test)
{
	struct ttm_ctx *ctx = test->priv;
	struct devcg_test_cg *c = devcg_test_cg_create(test, NULL, "kunit_ttm_ghost");
	struct ttm_buffer_object *bo = bo_create(test, c, &vram_only, false);
	struct dma_fence *copy = test_fence_create(test);
	int ret;

	move_fence = copy;
	ret = bo_place(test, bo, &system_only, NULL);
	move_fence = NULL;
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_FALSE(test, in_vram(bo));
	KUNIT_EXPECT_EQ(test, vram_of(test, c), (u64)BO_SIZE);

	dma_fence_signal(copy);
	flush_workqueue(ctx->ttm.wq);
	KUNIT_EXPECT_EQ(test, vram_of(test, c), 0ull);
	dma_fence_put(copy);
	bo_free(bo);
	devcg_test_cg_remove(test, c);
}

static struct kunit_case dev_cgroup_ttm_cases[] = {
	KUNIT_CASE(resident_buffers_charged_to_their_creator),
	KUNIT_CASE(limit_evicts_unprotected_buffers_of_its_subtree),
	KUNIT_CASE(full_vram_never_evicts_min_protected_buffers),
	KUNIT_CASE(low_protected_buffers_go_when_nothing_else_can),
	KUNIT_CASE(removed_owners_buffer_returns_charged_to_its_parent),
	KUNIT_CASE(full_vram_walk_switches_to_a_limit_hit_meanwhile),
	KUNIT_CASE(switched_walk_looks_again_from_the_start),
	KUNIT_CASE(busy_buffer_stays_charged_until_its_delayed_delete),
	KUNIT_CASE(ghost_of_an_accelerated_move_keeps_the_charge_until_done),
	{}
};

static struct kunit_suite dev_cgroup_ttm_suite = {
	.name = "dev_cgroup_ttm",
	.suite_init = devcg_test_suite_init,
	.suite_exit = devcg_test_suite_exit,
	.init = ttm_test_init,
	.exit = ttm_test_exit,
	.test_cases = dev_cgroup_ttm_cases,
};
kunit_test_suite(dev_cgroup_ttm_suite);
