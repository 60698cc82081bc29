// SPDX-License-Identifier: GPL-2.0
/*
 * Boot-time regions of shared DMA memory: every CMA area as "cma region.<area>"
 * and page-allocator memory as "system region.ram". Adapters charge buffers to
 * these regions according to where the memory actually came from, which the
 * lookups at the end of this file decide.
 *
 * CMA areas are all created before initcalls run (from the command line,
 * reserved-memory nodes or platform code), so one registration at
 * subsys_initcall, after cma_init_reserved_areas() (core_initcall), sees them
 * all. Area names are used as region names, with every character outside
 * [A-Za-z0-9_.-] replaced by '_' (a reserved-memory node "linux,cma" becomes
 * region "linux_cma").
 */

#include <linux/cgroup_dev.h>
#include <linux/cma.h>
#include <linux/ctype.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/dma-map-ops.h>
#include <linux/iommu-dma.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>

#define DEVCG_REGION_NAME_MAX 64

static struct dev_cgroup_device *devcg_system_device;

#ifdef CONFIG_CMA
static struct dev_cgroup_device *devcg_cma_device;
/* Region i of devcg_cma_device is the area devcg_cma_areas[i], pages [start, end). */
static struct {
	const struct cma *cma;
	unsigned long start_pfn, end_pfn;
} devcg_cma_areas[MAX_CMA_AREAS];
static unsigned int devcg_nr_cma_areas;

struct cma_regions {
	struct dev_cgroup_region_desc descs[MAX_CMA_AREAS];
	char names[MAX_CMA_AREAS][DEVCG_REGION_NAME_MAX];
	unsigned int count;
};

static struct cma_regions cma_regions __initdata;

static int __init add_cma_area(struct cma *cma, void *data)
{
	struct cma_regions *r = data;
	char *name;
	int i;

	if (r->count >= MAX_CMA_AREAS)
		return 0;
	name = r->names[r->count];
	strscpy(name, cma_get_name(cma), DEVCG_REGION_NAME_MAX);
	for (i = 0; name[i]; i++)
		if (!isalnum(name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
			name[i] = '_';
	r->descs[r->count].name = name;
	r->descs[r->count].capacity = (u64)cma_get_size(cma);
	devcg_cma_areas[r->count].cma = cma;
	devcg_cma_areas[r->count].start_pfn = PHYS_PFN(cma_get_base(cma));
	devcg_cma_areas[r->count].end_pfn = PHYS_PFN(cma_get_base(cma) + cma_get_size(cma));
	r->count++;
	return 0;
}

static void __init devcg_register_cma_areas(void)
{
	cma_for_each_area(add_cma_area, &cma_regions);
	if (!cma_regions.count)
		return;
	devcg_cma_device = dev_cgroup_register_device("cma", cma_regions.descs,
						      cma_regions.count);
	if (IS_ERR(devcg_cma_device)) {
		pr_warn("dev cgroup: CMA areas not registered: %pe\n", devcg_cma_device);
		devcg_cma_device = NULL;
		return;
	}
	devcg_nr_cma_areas = cma_regions.count;
}

/*
 * The region of a CMA area, or NULL for an area created after boot (none of
 * the kernel's CMA users does that; such an area would simply not be charged).
 */
struct dev_cgroup_region *dev_cgroup_cma_region(const struct cma *cma)
{
	unsigned int i;

	for (i = 0; i < devcg_nr_cma_areas; i++)
		if (devcg_cma_areas[i].cma == cma)
			return dev_cgroup_device_region(devcg_cma_device, i);
	return NULL;
}

static struct dev_cgroup_region *devcg_cma_region_of_pfn(unsigned long pfn)
{
	unsigned int i;

	for (i = 0; i < devcg_nr_cma_areas; i++)
		if (pfn >= devcg_cma_areas[i].start_pfn && pfn < devcg_cma_areas[i].end_pfn)
			return dev_cgroup_device_region(devcg_cma_device, i);
	return NULL;
}
#else
static void __init devcg_register_cma_areas(void) {}

struct dev_cgroup_region *dev_cgroup_cma_region(const struct cma *cma)
{
	return NULL;
}

static struct dev_cgroup_region *devcg_cma_region_of_pfn(unsigned long pfn)
{
	return NULL;
}
#endif
EXPORT_SYMBOL_GPL(dev_cgroup_cma_region);

struct dev_cgroup_region *dev_cgroup_system_ram_region(void)
{
	return devcg_system_device ? dev_cgroup_device_region(devcg_system_device, 0) : NULL;
}
EXPORT_SYMBOL_GPL(dev_cgroup_system_ram_region);

/*
 * The region that backs @page: the CMA area it lies in, else system RAM (it
 * came from the page allocator). This is decided from the memory itself, not
 * from the device that asked for it: the DMA API may serve one device from a
 * per-device area, the default area or the buddy allocator.
 */
struct dev_cgroup_region *dev_cgroup_page_region(const struct page *page)
{
	struct dev_cgroup_region *region = devcg_cma_region_of_pfn(page_to_pfn(page));

	return region ?: dev_cgroup_system_ram_region();
}
EXPORT_SYMBOL_GPL(dev_cgroup_page_region);

static atomic_long_t devcg_unclassified_buffers = ATOMIC_LONG_INIT(0);

/*
 * The region for a buffer whose memory cannot be told apart (no struct page
 * behind it, or the DMA layer could not describe it): system RAM, where DMA
 * memory comes from when nothing says otherwise, so that its limit still
 * applies. Never silent: the first one is logged, with @why, and all are
 * counted (dev_cgroup_unclassified_buffers()).
 */
struct dev_cgroup_region *dev_cgroup_unclassified_region(const char *why)
{
	atomic_long_inc(&devcg_unclassified_buffers);
	pr_warn_once("dev cgroup: charging DMA memory of unknown origin to system region.ram (%s)\n",
		     why);
	return dev_cgroup_system_ram_region();
}
EXPORT_SYMBOL_GPL(dev_cgroup_unclassified_region);

/* How many buffers dev_cgroup_unclassified_region() was asked for since boot. */
unsigned long dev_cgroup_unclassified_buffers(void)
{
	return atomic_long_read(&devcg_unclassified_buffers);
}

/*
 * The region behind the memory @sgt describes, from its first page: one
 * buffer comes from one allocator (a CMA allocation is a single block of one
 * area; anything else is page-allocator memory).
 */
struct dev_cgroup_region *dev_cgroup_sg_region(const struct sg_table *sgt)
{
	if (!sgt || !sgt->sgl || !sg_page(sgt->sgl))
		return dev_cgroup_unclassified_region("a table without pages");
	return dev_cgroup_page_region(sg_page(sgt->sgl));
}
EXPORT_SYMBOL_GPL(dev_cgroup_sg_region);

/* The DMA layer maps @dev's memory directly: no dma_map_ops, no IOMMU. */
static bool devcg_dma_direct(struct device *dev)
{
	return dev && !get_dma_ops(dev) && !use_dma_iommu(dev);
}

/*
 * dma_alloc_attrs() serves @dev from a pool of its own: per-device coherent
 * memory (dma_declare_coherent_memory(), reserved-memory "shared-dma-pool"),
 * which dma_alloc_from_dev_coherent() never falls back from, or the global
 * coherent pool. The pages API (dma_alloc_pages(), dma_alloc_noncoherent(),
 * dma_alloc_noncontiguous()) does not use them.
 */
static bool devcg_dma_coherent_pool(struct device *dev)
{
	if (!dev)
		return false;
#ifdef CONFIG_DMA_DECLARE_COHERENT
	if (dev->dma_mem)
		return true;
#endif
	/* dma-direct takes the global pool for non-coherent devices only. */
	return IS_ENABLED(CONFIG_DMA_GLOBAL_POOL) && !dev_is_dma_coherent(dev);
}

/*
 * dma_alloc_attrs() for @dev goes to the architecture's own allocator (ARM's
 * arch_dma_alloc() for a device that is not cache-coherent), which frees the
 * tail of the block it allocates.
 */
static bool devcg_dma_arch_alloc(struct device *dev)
{
	return IS_ENABLED(CONFIG_ARCH_HAS_DMA_ALLOC) && !dev_is_dma_coherent(dev);
}

/*
 * Per-device coherent pools (dma_declare_coherent_memory(), reserved-memory
 * "shared-dma-pool"; patches/0009 reports them as they are set up): each is
 * device "dma-pool/<name>" with one region, "pool", <name> being the
 * declaring device's name or the reserved-memory node's, both stable across
 * boots (characters a device name cannot hold become '_'). dma_alloc_attrs()
 * returns the pool's own mapping of its memory, so a buffer is found by its
 * CPU address.
 */
struct devcg_dma_pool {
	struct list_head node;
	unsigned long virt_start, virt_end;
	struct dev_cgroup_device *device;
};

static LIST_HEAD(devcg_dma_pools);
static DEFINE_SPINLOCK(devcg_dma_pools_lock);

/* Registers "dma-pool/<name>" (<name> made a valid device name), or NULL. */
static struct dev_cgroup_device *devcg_register_dma_pool(const char *fmt, const char *name,
							 phys_addr_t phys, size_t size)
{
	struct dev_cgroup_region_desc desc = { .name = "pool", .capacity = size };
	struct dev_cgroup_device *device;
	char *device_name = kasprintf(GFP_KERNEL, fmt, name, &phys);
	char *c;

	if (!device_name)
		return NULL;
	for (c = device_name; *c; c++)
		if (*c <= ' ' || *c > '~' || *c == '=')
			*c = '_';
	device = dev_cgroup_register_device(device_name, &desc, 1);
	if (IS_ERR_OR_NULL(device)) {
		pr_warn("dev cgroup: %s not registered: %pe\n", device_name, device);
		device = NULL;
	}
	kfree(device_name);
	return device;
}

void dev_cgroup_dma_pool_added(const char *name, phys_addr_t phys, void *virt_base, size_t size)
{
	struct devcg_dma_pool *pool;
	unsigned long flags;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		return;
	/*
	 * Named after its device or node; a pool without a name, or one whose
	 * name is taken (two pools of one device, a name cut short), also by
	 * its physical base: unique, and stable across boots too.
	 */
	pool->device = name ? devcg_register_dma_pool("dma-pool/%s", name, phys, size) : NULL;
	if (!pool->device)
		pool->device = devcg_register_dma_pool("dma-pool/%s@%pa", name ?: "", phys, size);
	if (!pool->device) {
		pr_warn("dev cgroup: a coherent DMA pool at %pa is not accounted\n", &phys);
		kfree(pool);
		return;
	}
	pool->virt_start = (unsigned long)virt_base;
	pool->virt_end = pool->virt_start + size;
	spin_lock_irqsave(&devcg_dma_pools_lock, flags);
	list_add(&pool->node, &devcg_dma_pools);
	spin_unlock_irqrestore(&devcg_dma_pools_lock, flags);
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_pool_added);

/* The pool mapped at @virt_base goes: after its last buffer was freed. */
void dev_cgroup_dma_pool_removed(void *virt_base)
{
	struct devcg_dma_pool *pool, *found = NULL;
	unsigned long flags;

	spin_lock_irqsave(&devcg_dma_pools_lock, flags);
	list_for_each_entry(pool, &devcg_dma_pools, node) {
		if (pool->virt_start == (unsigned long)virt_base) {
			list_del(&pool->node);
			found = pool;
			break;
		}
	}
	spin_unlock_irqrestore(&devcg_dma_pools_lock, flags);
	if (found) {
		dev_cgroup_unregister_device(found->device);
		kfree(found);
	}
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_pool_removed);

/*
 * The region of the pool whose mapping holds @cpu_addr, or NULL. The region
 * outlives its use by the caller, without a reference: the caller holds a
 * live buffer of the pool, and the DMA API wants every buffer of a pool
 * freed before the pool is released (dev_cgroup_dma_pool_removed()).
 */
static struct dev_cgroup_region *devcg_dma_pool_region(const void *cpu_addr)
{
	struct dev_cgroup_region *region = NULL;
	unsigned long addr = (unsigned long)cpu_addr, flags;
	struct devcg_dma_pool *pool;

	spin_lock_irqsave(&devcg_dma_pools_lock, flags);
	list_for_each_entry(pool, &devcg_dma_pools, node) {
		if (addr >= pool->virt_start && addr < pool->virt_end) {
			region = dev_cgroup_device_region(pool->device, 0);
			break;
		}
	}
	spin_unlock_irqrestore(&devcg_dma_pools_lock, flags);
	return region;
}

/*
 * The region of a dma_alloc_attrs() allocation at @cpu_addr (what it
 * returned) for a device it serves from a coherent pool: the pool's, or
 * unclassified for a pool without a region (the global pool). NULL for any
 * other device: dma_alloc_attrs() takes a device's pool before it looks at
 * the device's mapping, IOMMU or not.
 */
struct dev_cgroup_region *dev_cgroup_dma_pool_region(struct device *dev, const void *cpu_addr)
{
	struct dev_cgroup_region *region;

	if (!devcg_dma_coherent_pool(dev))
		return NULL;
	region = devcg_dma_pool_region(cpu_addr);
	return region ?: dev_cgroup_unclassified_region("a coherent pool without a region");
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_pool_region);

/*
 * The region behind a dma_alloc_attrs() allocation, not from a pool, of a
 * device the DMA layer maps directly: its DMA address gives its first page,
 * as dma_direct_get_sgtable() finds it, with no allocation. Memory from a
 * restricted swiotlb pool or with no page behind it is unclassified. NULL
 * when the device is not directly mapped (the caller then asks the DMA API
 * for a table).
 */
struct dev_cgroup_region *dev_cgroup_dma_direct_region(struct device *dev, dma_addr_t dma_addr)
{
	unsigned long pfn;

	if (!devcg_dma_direct(dev))
		return NULL;
	if (is_swiotlb_for_alloc(dev))
		return dev_cgroup_unclassified_region("a restricted DMA pool");
	pfn = PHYS_PFN(dma_to_phys(dev, dma_addr));
	/* Not asking dma_get_sgtable(): it would take pfn_to_page() of it. */
	if (!pfn_valid(pfn))
		return dev_cgroup_unclassified_region("a DMA address without a page");
	return dev_cgroup_page_region(pfn_to_page(pfn));
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_direct_region);

/*
 * What a buffer of @size bytes that the DMA layer allocated for @dev from
 * @region really took; @pages_api: allocated with dma_alloc_pages(),
 * dma_alloc_noncoherent() or dma_alloc_noncontiguous(), else with
 * dma_alloc_attrs(). A directly mapped device's page-allocator memory is one
 * block of order get_order(size) (__dma_direct_alloc_pages()), kept whole
 * until it is freed: a 1.2 MiB buffer takes 2 MiB. So is a per-device
 * coherent pool's (a bitmap region of that order). A CMA area and a
 * restricted pool give exactly the pages asked for, an architecture's own
 * allocator frees the tail of its block, and the IOMMU path allocates page
 * by page (IOMMU allocations of one contiguous block are counted the same,
 * short of their rounding).
 */
u64 dev_cgroup_dma_cost(struct device *dev, struct dev_cgroup_region *region, u64 size,
			bool pages_api)
{
	if (size && region && !pages_api && devcg_dma_coherent_pool(dev))
		return (u64)PAGE_SIZE << get_order(size);
	if (!size || !region || !devcg_dma_direct(dev))
		return PAGE_ALIGN(size);
	if (region != dev_cgroup_system_ram_region() || is_swiotlb_for_alloc(dev))
		return PAGE_ALIGN(size);
	if (!pages_api && devcg_dma_arch_alloc(dev))
		return PAGE_ALIGN(size);
	return (u64)PAGE_SIZE << get_order(size);
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_cost);

/*
 * Before a DMA allocation of @size bytes for @dev (@pages_api as for
 * dev_cgroup_dma_cost()): -ENOMEM when the current task's cgroup has no room
 * in any region the memory could come from, so that a task over its limit
 * makes no CMA area migrate pages for memory it would give back at once.
 * For a directly mapped device served by dma-direct, the candidates are its
 * CMA area (per-device, or the default one above a page) and the page
 * allocator (at the cost dev_cgroup_dma_cost() gives). Whenever the memory
 * may come from anywhere else (pools, per-node CMA areas, an architecture's
 * allocator, an IOMMU) or a candidate has no region, 0: the charge made once
 * the memory exists decides.
 */
int dev_cgroup_dma_check_room(struct device *dev, size_t size, bool pages_api)
{
	struct dev_cgroup_region *regions[2];
	u64 costs[2];
	unsigned int nr = 0, i;
	struct cma *cma __maybe_unused;

	if (!devcg_dma_direct(dev) || is_swiotlb_for_alloc(dev) || IS_ENABLED(CONFIG_DMA_NUMA_CMA))
		return 0;
	if (!pages_api && (devcg_dma_coherent_pool(dev) || devcg_dma_arch_alloc(dev)))
		return 0;
#ifdef CONFIG_DMA_CMA
	/* As dma_alloc_contiguous() picks the area. */
	cma = dev->cma_area ?: (size > PAGE_SIZE ? dma_contiguous_default_area : NULL);
	if (cma) {
		regions[nr] = dev_cgroup_cma_region(cma);
		costs[nr++] = PAGE_ALIGN(size);
	}
#endif
	regions[nr] = dev_cgroup_system_ram_region();
	costs[nr] = dev_cgroup_dma_cost(dev, regions[nr], size, pages_api);
	nr++;
	/* Memory of a region nobody registered is charged nothing: room. */
	for (i = 0; i < nr; i++)
		if (!regions[i])
			return 0;
	return dev_cgroup_check_room(regions, costs, nr);
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_check_room);

/*
 * The region behind a kernel address of an allocation: linear-map addresses
 * (dma_alloc_noncoherent() and friends) and vmalloc addresses are looked up
 * by their page; anything else is unclassified (see above).
 */
struct dev_cgroup_region *dev_cgroup_virt_region(const void *addr)
{
	if (is_vmalloc_addr(addr)) {
		struct page *page = vmalloc_to_page(addr);

		/* An ioremap()ed range maps no RAM: no page to look up. */
		if (page && pfn_valid(page_to_pfn(page)))
			return dev_cgroup_page_region(page);
		return dev_cgroup_unclassified_region("a vmalloc address without RAM behind it");
	}
	if (virt_addr_valid(addr))
		return dev_cgroup_page_region(virt_to_page(addr));
	return dev_cgroup_unclassified_region("an address outside the linear map and vmalloc");
}
EXPORT_SYMBOL_GPL(dev_cgroup_virt_region);

static int __init devcg_register_memory_regions(void)
{
	struct dev_cgroup_region_desc ram = {
		.name = "ram",
		.capacity = (u64)totalram_pages() << PAGE_SHIFT,
	};

	devcg_register_cma_areas();
	devcg_system_device = dev_cgroup_register_device("system", &ram, 1);
	if (IS_ERR(devcg_system_device)) {
		pr_warn("dev cgroup: system RAM not registered: %pe\n", devcg_system_device);
		devcg_system_device = NULL;
	}
	return 0;
}
subsys_initcall(devcg_register_memory_regions);
