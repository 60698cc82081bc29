// SPDX-License-Identifier: GPL-2.0
/*
 * The mainline dmem driver API (include/linux/cgroup_dmem.h) on top of the
 * dev controller's: a dmem region is a dev device with one region, a dmem
 * pool state is a dev pool handle. No accounting of its own. In C because
 * registration takes a printf-style name.
 */

#include <linux/cgroup_dmem.h>
#include <linux/err.h>
#include <linux/export.h>
#include <linux/slab.h>
#include <linux/string.h>

struct dmem_cgroup_region {
	struct dev_cgroup_device *dev;
	struct dev_cgroup_region *region;
};

/* A dmem pool state is the dev pool handle itself: a cast, both ways. */
static struct dev_cgroup_pool *to_dev_pool(struct dmem_cgroup_pool_state *pool)
{
	return (struct dev_cgroup_pool *)pool;
}

static struct dmem_cgroup_pool_state *to_dmem_pool(struct dev_cgroup_pool *pool)
{
	return (struct dmem_cgroup_pool_state *)pool;
}

struct dmem_cgroup_region *dmem_cgroup_register_region(u64 size, const char *name_fmt, ...)
{
	struct dmem_cgroup_region *dmem;
	struct dev_cgroup_region_desc desc = { .capacity = size };
	struct dev_cgroup_device *dev;
	char *name, *slash;
	va_list args;

	if (!size)
		return NULL;
	va_start(args, name_fmt);
	name = kvasprintf(GFP_KERNEL, name_fmt, args);
	va_end(args);
	if (!name)
		return ERR_PTR(-ENOMEM);
	/* "drm/0000:03:00.0/vram0": device "drm/0000:03:00.0", region "vram0". */
	slash = strrchr(name, '/');
	if (slash && slash != name && slash[1]) {
		*slash = '\0';
		desc.name = slash + 1;
	} else {
		desc.name = "mem";
	}
	dmem = kzalloc(sizeof(*dmem), GFP_KERNEL);
	if (!dmem) {
		kfree(name);
		return ERR_PTR(-ENOMEM);
	}
	/* The controller copies both names. */
	dev = dev_cgroup_register_device(name, &desc, 1);
	if (PTR_ERR_OR_ZERO(dev) == -EEXIST && desc.name == slash + 1) {
		/*
		 * A second region of the same device ("vram1" after "vram0"):
		 * a device of the controller has its regions fixed at
		 * registration, so this one is a device of its own, named in
		 * full ("drm/0000:03:00.0/vram1", region "vram1").
		 */
		*slash = '/';
		dev = dev_cgroup_register_device(name, &desc, 1);
	}
	kfree(name);
	if (IS_ERR(dev)) {
		kfree(dmem);
		return ERR_CAST(dev);
	}
	dmem->dev = dev;
	dmem->region = dev_cgroup_device_region(dev, 0);
	return dmem;
}
EXPORT_SYMBOL_GPL(dmem_cgroup_register_region);

/*
 * As in mainline, @region is not used again by the caller. Charges alive are
 * uncharged normally (dmem_cgroup_uncharge()), limiting pools held are put
 * (dmem_cgroup_pool_state_put()); a charge racing this call fails with
 * -ENODEV.
 */
void dmem_cgroup_unregister_region(struct dmem_cgroup_region *region)
{
	if (IS_ERR_OR_NULL(region))
		return;
	dev_cgroup_unregister_device(region->dev);
	kfree(region);
}
EXPORT_SYMBOL_GPL(dmem_cgroup_unregister_region);

int dmem_cgroup_try_charge(struct dmem_cgroup_region *region, u64 size,
			   struct dmem_cgroup_pool_state **ret_pool,
			   struct dmem_cgroup_pool_state **ret_limit_pool)
{
	struct dev_cgroup_pool *pool = NULL, *limit = NULL;
	int ret;

	*ret_pool = NULL;
	if (ret_limit_pool)
		*ret_limit_pool = NULL;
	/* Nothing to account, as mainline: success with no pool. */
	if (!region || !size)
		return 0;
	ret = dev_cgroup_try_charge(region->region, size, DEV_CGROUP_CONSUMER_DRM, &pool,
				    ret_limit_pool ? &limit : NULL);
	*ret_pool = to_dmem_pool(pool);
	if (ret_limit_pool)
		*ret_limit_pool = to_dmem_pool(limit);
	return ret;
}
EXPORT_SYMBOL_GPL(dmem_cgroup_try_charge);

void dmem_cgroup_uncharge(struct dmem_cgroup_pool_state *pool, u64 size)
{
	dev_cgroup_uncharge(to_dev_pool(pool), size);
}
EXPORT_SYMBOL_GPL(dmem_cgroup_uncharge);

bool dmem_cgroup_state_evict_valuable(struct dmem_cgroup_pool_state *limit_pool,
				      struct dmem_cgroup_pool_state *test_pool,
				      bool ignore_low, bool *ret_hit_low)
{
	return dev_cgroup_evict_valuable(to_dev_pool(limit_pool), to_dev_pool(test_pool),
					 ignore_low, ret_hit_low);
}
EXPORT_SYMBOL_GPL(dmem_cgroup_state_evict_valuable);

void dmem_cgroup_pool_state_put(struct dmem_cgroup_pool_state *pool)
{
	dev_cgroup_pool_put(to_dev_pool(pool));
}
EXPORT_SYMBOL_GPL(dmem_cgroup_pool_state_put);
