/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dev cgroup controller: charging device memory to cgroups.
 *
 * A driver or framework registers a *device* with one or more *regions*
 * (a CMA area, system RAM, a card's VRAM), then charges every buffer it
 * hands out to a region. See Documentation/driver-api/cgroup-dev.rst.
 *
 * Implemented in Rust (kernel/cgroup/dev/src/core/); with CONFIG_CGROUP_DEV=n
 * every call below is a stub that charges nothing and always succeeds.
 */
#ifndef _LINUX_CGROUP_DEV_H
#define _LINUX_CGROUP_DEV_H

#include <linux/err.h>
#include <linux/types.h>

struct cgroup_subsys_state;
struct cma;
struct device;
struct dma_buf;
struct page;
struct seq_file;
struct sg_table;

/*
 * A driver's probe, on the probing task's stack (patches/0008): between
 * dev_cgroup_probe_begin() and _end(), what the task charges goes to the
 * root cgroup. Nests. See src/core/glue.c.
 */
struct dev_cgroup_probe_scope {
	struct cgroup_subsys_state *outer;
};

/* A registered device. Opaque. */
struct dev_cgroup_device;
/* One region of a registered device. Opaque; lives as long as its device. */
struct dev_cgroup_region;
/*
 * What a charge is recorded against: one cgroup's share of one region, as
 * seen by one consumer framework. Opaque. A charge's handle is kept valid by
 * the charged bytes until uncharged; the limiting pool of a refused charge
 * is handed out with a reference, dropped by dev_cgroup_pool_put().
 */
struct dev_cgroup_pool;

/* Which framework a charge comes from; feeds dev.stat. */
enum dev_cgroup_consumer {
	DEV_CGROUP_CONSUMER_DRM = 0,
	DEV_CGROUP_CONSUMER_V4L2 = 1,
	DEV_CGROUP_CONSUMER_DMA_HEAP = 2,
	DEV_CGROUP_CONSUMER_OTHER = 3,
	DEV_CGROUP_NR_CONSUMERS = 4,
};

/* One region of a device being registered. */
struct dev_cgroup_region_desc {
	/* [A-Za-z0-9_.-]+, unique within the device. Copied. */
	const char *name;
	/* Size in bytes, shown in dev.capacity. */
	u64 capacity;
};

/*
 * What a buffer owes: the pool it was charged to and the size. Embed one in
 * the buffer, zero-initialised; dev_cgroup_charge_buffer() fills it and
 * dev_cgroup_uncharge_buffer() gives it back exactly once.
 */
struct dev_cgroup_charge {
	struct dev_cgroup_pool *pool;
	u64 size;
};

#ifdef CONFIG_CGROUP_DEV

struct dev_cgroup_device *
dev_cgroup_register_device(const char *name,
			   const struct dev_cgroup_region_desc *regions,
			   unsigned int nr_regions);
struct dev_cgroup_region *
dev_cgroup_device_region(struct dev_cgroup_device *dev, unsigned int index);
void dev_cgroup_unregister_device(struct dev_cgroup_device *dev);
void dev_cgroup_device_get(struct dev_cgroup_device *dev);
void dev_cgroup_device_put(struct dev_cgroup_device *dev);

/*
 * Before taking memory that may come from any of @nr regions, costing
 * @costs[i] bytes if from @regions[i]: -ENOMEM if charging the current task's
 * cgroup would surely be refused in every one (counted in dev.events as a
 * refused charge), else 0. Charges nothing; the charge made once the memory
 * exists decides.
 */
int dev_cgroup_check_room(struct dev_cgroup_region *const *regions, const u64 *costs,
			  unsigned int nr);
void dev_cgroup_probe_begin(struct dev_cgroup_probe_scope *scope);
void dev_cgroup_probe_end(struct dev_cgroup_probe_scope *scope);

int dev_cgroup_try_charge(struct dev_cgroup_region *region, u64 size,
			  enum dev_cgroup_consumer consumer,
			  struct dev_cgroup_pool **ret_pool,
			  struct dev_cgroup_pool **ret_limit_pool);
/*
 * Charges the cgroup that owns a buffer, @owner (referenced by the caller),
 * or if that cgroup was removed, its nearest online ancestor; NULL: the
 * current task's cgroup. Otherwise as dev_cgroup_try_charge().
 */
int dev_cgroup_try_charge_owner(struct cgroup_subsys_state *owner,
				struct dev_cgroup_region *region, u64 size,
				enum dev_cgroup_consumer consumer,
				struct dev_cgroup_pool **ret_pool,
				struct dev_cgroup_pool **ret_limit_pool);
int dev_cgroup_try_charge_css(struct cgroup_subsys_state *css,
			      struct dev_cgroup_region *region, u64 size,
			      enum dev_cgroup_consumer consumer,
			      struct dev_cgroup_pool **ret_pool,
			      struct dev_cgroup_pool **ret_limit_pool);
void dev_cgroup_uncharge(struct dev_cgroup_pool *pool, u64 size);
bool dev_cgroup_evict_valuable(struct dev_cgroup_pool *limit_pool,
			       struct dev_cgroup_pool *test_pool,
			       bool ignore_low, bool *ret_hit_low);
void dev_cgroup_pool_put(struct dev_cgroup_pool *pool);
struct cgroup_subsys_state *dev_cgroup_get_current_css(void);
void dev_cgroup_put_css(struct cgroup_subsys_state *css);

/*
 * Buffer charges for allocators that cannot evict: 0, -ENOMEM when a dev.max
 * is hit (or memory is short), -ENODEV when the region's device is gone. A
 * NULL region is memory nobody accounts: nothing is recorded, 0 is returned.
 */
int dev_cgroup_charge_buffer(struct dev_cgroup_charge *charge,
			     struct dev_cgroup_region *region, u64 size,
			     enum dev_cgroup_consumer consumer);
void dev_cgroup_uncharge_buffer(struct dev_cgroup_charge *charge);

/*
 * Charge transfer: the calling task's cgroup takes the charge a record holds
 * (same region, same consumer), charged first under its limits, then the
 * previous payer uncharged. 0 with *@ret_bytes set; -ENOMEM at a limit
 * (counted, nothing changed); -EOPNOTSUPP if the record holds no charge;
 * -ENODEV if the region is going away. The record's buffer must stay alive
 * for the call (its dma-buf's file is held). dev_cgroup_charge_show()
 * prints who pays for a record: "dev_cgroup:\t<path> <device>
 * region.<name>=<bytes>", the path as seen from the reader's cgroup
 * namespace; nothing if it holds no charge.
 */
int dev_cgroup_charge_take(struct dev_cgroup_charge *charge, u64 *ret_bytes);
void dev_cgroup_charge_show(struct dev_cgroup_charge *charge, struct seq_file *m);

/*
 * dma-buf adapter (src/adapters/dma_buf.rs). An exporter whose buffer holds
 * a charge record opts in with dev_cgroup_dma_buf_export() once the dma-buf
 * exists; the dma-buf core then serves DEV_CGROUP_IOC_TAKE
 * (<uapi/linux/dev_cgroup.h>) and the fdinfo line through the other two.
 */
void dev_cgroup_dma_buf_export(struct dma_buf *dmabuf, struct dev_cgroup_charge *charge);
long dev_cgroup_dma_buf_take(struct dma_buf *dmabuf, void __user *arg);
void dev_cgroup_dma_buf_show_fdinfo(struct seq_file *m, struct dma_buf *dmabuf);

/* Regions of shared DMA memory registered at boot (src/adapters/memory_regions.c). */
struct dev_cgroup_region *dev_cgroup_cma_region(const struct cma *cma);
struct dev_cgroup_region *dev_cgroup_system_ram_region(void);
struct dev_cgroup_region *dev_cgroup_page_region(const struct page *page);
struct dev_cgroup_region *dev_cgroup_sg_region(const struct sg_table *sgt);
struct dev_cgroup_region *dev_cgroup_virt_region(const void *addr);
struct dev_cgroup_region *dev_cgroup_unclassified_region(const char *why);
unsigned long dev_cgroup_unclassified_buffers(void);
struct dev_cgroup_region *dev_cgroup_dma_direct_region(struct device *dev, dma_addr_t dma_addr);
struct dev_cgroup_region *dev_cgroup_dma_pool_region(struct device *dev, const void *cpu_addr);
/* Per-device coherent pools, reported by kernel/dma/coherent.c (patches/0009). */
void dev_cgroup_dma_pool_added(const char *name, phys_addr_t phys, void *virt_base, size_t size);
void dev_cgroup_dma_pool_removed(void *virt_base);
u64 dev_cgroup_dma_cost(struct device *dev, struct dev_cgroup_region *region, u64 size,
			bool pages_api);
int dev_cgroup_dma_check_room(struct device *dev, size_t size, bool pages_api);
/* The region behind a DMA API allocation (src/adapters/backing.rs). */
struct dev_cgroup_region *dev_cgroup_dma_region(struct device *dev, void *cookie,
						 dma_addr_t dma_addr, struct sg_table *sgt,
						 u64 size, unsigned long attrs);

/* dma-buf heaps adapter (src/adapters/dma_heap.rs), called by the heaps. */
int dev_cgroup_dma_heap_charge_cma(struct dev_cgroup_charge *charge,
				   struct cma *cma, u64 size);
int dev_cgroup_dma_heap_charge_system(struct dev_cgroup_charge *charge, u64 size);
void dev_cgroup_dma_heap_uncharge(struct dev_cgroup_charge *charge);

/*
 * videobuf2 adapter (src/adapters/vb2.rs), called by the memops once the
 * memory is allocated (its region is found from the memory): 0 or -ENOMEM.
 */
int dev_cgroup_vb2_charge_dma_contig(struct dev_cgroup_charge *charge, struct device *dev,
				     void *cookie, dma_addr_t dma_addr, struct sg_table *sgt,
				     u64 size, unsigned long attrs);
int dev_cgroup_vb2_charge_sg(struct dev_cgroup_charge *charge, struct sg_table *sgt, u64 size);
int dev_cgroup_vb2_charge_vmalloc(struct dev_cgroup_charge *charge, void *vaddr, u64 size);
void dev_cgroup_vb2_uncharge(struct dev_cgroup_charge *charge);

/*
 * GEM DMA helper adapter (src/adapters/drm_gem_dma.rs): 0, or -ENOMEM after
 * freeing the memory and clearing *@vaddr, so that no driver can keep it.
 */
int dev_cgroup_drm_gem_dma_charge(struct dev_cgroup_charge *charge, struct device *dev,
				  void **vaddr, dma_addr_t dma_addr, u64 size, bool noncoherent);
void dev_cgroup_drm_gem_dma_uncharge(struct dev_cgroup_charge *charge);

/*
 * TTM adapter (src/adapters/ttm.rs). A DRM device's memory is registered as
 * "drm/<unique>" with one region; TTM charges a resource placed in it to the
 * buffer object's owner: 0, -ENOSPC at a limit (*ret_limit_pool referenced
 * when asked), -ENOMEM.
 */
struct dev_cgroup_device *dev_cgroup_drm_register_region(const char *unique,
							 const char *region, u64 capacity,
							 struct dev_cgroup_region **ret_region);
int dev_cgroup_ttm_charge(struct dev_cgroup_region *region, struct cgroup_subsys_state *owner,
			  u64 size, struct dev_cgroup_charge *charge,
			  struct dev_cgroup_pool **ret_limit_pool);
void dev_cgroup_ttm_uncharge(struct dev_cgroup_charge *charge);

#else /* !CONFIG_CGROUP_DEV */

static inline struct dev_cgroup_device *
dev_cgroup_register_device(const char *name,
			   const struct dev_cgroup_region_desc *regions,
			   unsigned int nr_regions)
{
	return NULL;
}

static inline struct dev_cgroup_region *
dev_cgroup_device_region(struct dev_cgroup_device *dev, unsigned int index)
{
	return NULL;
}

static inline void dev_cgroup_unregister_device(struct dev_cgroup_device *dev) {}
static inline void dev_cgroup_device_get(struct dev_cgroup_device *dev) {}
static inline void dev_cgroup_device_put(struct dev_cgroup_device *dev) {}

static inline void dev_cgroup_probe_begin(struct dev_cgroup_probe_scope *scope) {}
static inline void dev_cgroup_probe_end(struct dev_cgroup_probe_scope *scope) {}

static inline int dev_cgroup_check_room(struct dev_cgroup_region *const *regions,
					const u64 *costs, unsigned int nr)
{
	return 0;
}

static inline int dev_cgroup_try_charge(struct dev_cgroup_region *region, u64 size,
					enum dev_cgroup_consumer consumer,
					struct dev_cgroup_pool **ret_pool,
					struct dev_cgroup_pool **ret_limit_pool)
{
	*ret_pool = NULL;
	if (ret_limit_pool)
		*ret_limit_pool = NULL;
	return 0;
}

static inline int dev_cgroup_try_charge_owner(struct cgroup_subsys_state *owner,
					      struct dev_cgroup_region *region, u64 size,
					      enum dev_cgroup_consumer consumer,
					      struct dev_cgroup_pool **ret_pool,
					      struct dev_cgroup_pool **ret_limit_pool)
{
	return dev_cgroup_try_charge(region, size, consumer, ret_pool, ret_limit_pool);
}

static inline int dev_cgroup_try_charge_css(struct cgroup_subsys_state *css,
					    struct dev_cgroup_region *region, u64 size,
					    enum dev_cgroup_consumer consumer,
					    struct dev_cgroup_pool **ret_pool,
					    struct dev_cgroup_pool **ret_limit_pool)
{
	return dev_cgroup_try_charge(region, size, consumer, ret_pool, ret_limit_pool);
}

static inline void dev_cgroup_uncharge(struct dev_cgroup_pool *pool, u64 size) {}

static inline bool dev_cgroup_evict_valuable(struct dev_cgroup_pool *limit_pool,
					     struct dev_cgroup_pool *test_pool,
					     bool ignore_low, bool *ret_hit_low)
{
	return true;
}

static inline void dev_cgroup_pool_put(struct dev_cgroup_pool *pool) {}

static inline int dev_cgroup_charge_buffer(struct dev_cgroup_charge *charge,
					   struct dev_cgroup_region *region, u64 size,
					   enum dev_cgroup_consumer consumer)
{
	return 0;
}

static inline void dev_cgroup_uncharge_buffer(struct dev_cgroup_charge *charge) {}

static inline void dev_cgroup_dma_buf_export(struct dma_buf *dmabuf,
					     struct dev_cgroup_charge *charge) {}

/* Without the controller the ioctl does not exist. */
static inline long dev_cgroup_dma_buf_take(struct dma_buf *dmabuf, void __user *arg)
{
	return -ENOTTY;
}

static inline void dev_cgroup_dma_buf_show_fdinfo(struct seq_file *m, struct dma_buf *dmabuf) {}

static inline struct dev_cgroup_region *dev_cgroup_cma_region(const struct cma *cma)
{
	return NULL;
}

static inline struct dev_cgroup_region *dev_cgroup_system_ram_region(void)
{
	return NULL;
}

static inline int dev_cgroup_dma_heap_charge_cma(struct dev_cgroup_charge *charge,
						 struct cma *cma, u64 size)
{
	return 0;
}

static inline int dev_cgroup_dma_heap_charge_system(struct dev_cgroup_charge *charge,
						    u64 size)
{
	return 0;
}

static inline void dev_cgroup_dma_heap_uncharge(struct dev_cgroup_charge *charge) {}

static inline struct dev_cgroup_region *dev_cgroup_page_region(const struct page *page)
{
	return NULL;
}

static inline struct dev_cgroup_region *dev_cgroup_sg_region(const struct sg_table *sgt)
{
	return NULL;
}

static inline void dev_cgroup_dma_pool_added(const char *name, phys_addr_t phys,
					     void *virt_base, size_t size) {}
static inline void dev_cgroup_dma_pool_removed(void *virt_base) {}

static inline int dev_cgroup_dma_check_room(struct device *dev, size_t size, bool pages_api)
{
	return 0;
}

static inline int dev_cgroup_vb2_charge_dma_contig(struct dev_cgroup_charge *charge,
						   struct device *dev, void *cookie,
						   dma_addr_t dma_addr, struct sg_table *sgt,
						   u64 size, unsigned long attrs)
{
	return 0;
}

static inline int dev_cgroup_vb2_charge_sg(struct dev_cgroup_charge *charge,
					   struct sg_table *sgt, u64 size)
{
	return 0;
}

static inline int dev_cgroup_vb2_charge_vmalloc(struct dev_cgroup_charge *charge,
						void *vaddr, u64 size)
{
	return 0;
}

static inline void dev_cgroup_vb2_uncharge(struct dev_cgroup_charge *charge) {}

static inline int dev_cgroup_drm_gem_dma_charge(struct dev_cgroup_charge *charge,
						struct device *dev, void **vaddr,
						dma_addr_t dma_addr, u64 size, bool noncoherent)
{
	return 0;
}

static inline void dev_cgroup_drm_gem_dma_uncharge(struct dev_cgroup_charge *charge) {}

static inline struct cgroup_subsys_state *dev_cgroup_get_current_css(void)
{
	return NULL;
}

static inline void dev_cgroup_put_css(struct cgroup_subsys_state *css) {}

static inline struct dev_cgroup_device *
dev_cgroup_drm_register_region(const char *unique, const char *region, u64 capacity,
			       struct dev_cgroup_region **ret_region)
{
	*ret_region = NULL;
	return NULL;
}

static inline int dev_cgroup_ttm_charge(struct dev_cgroup_region *region,
					struct cgroup_subsys_state *owner, u64 size,
					struct dev_cgroup_charge *charge,
					struct dev_cgroup_pool **ret_limit_pool)
{
	charge->pool = NULL;
	charge->size = 0;
	return 0;
}

static inline void dev_cgroup_ttm_uncharge(struct dev_cgroup_charge *charge) {}

#endif /* CONFIG_CGROUP_DEV */

#endif /* _LINUX_CGROUP_DEV_H */
