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
#include <linux/dma-map-ops.h>
#include <linux/iommu-dma.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/scatterlist.h>
#include <linux/string.h>
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

/*
 * The region behind the memory @sgt describes, from its first page: one
 * buffer comes from one allocator (a CMA allocation is a single block of one
 * area; anything else is page-allocator memory).
 */
struct dev_cgroup_region *dev_cgroup_sg_region(const struct sg_table *sgt)
{
	if (!sgt || !sgt->sgl || !sg_page(sgt->sgl))
		return dev_cgroup_system_ram_region();
	return dev_cgroup_page_region(sg_page(sgt->sgl));
}
EXPORT_SYMBOL_GPL(dev_cgroup_sg_region);

/*
 * The region behind a dma_alloc_attrs() allocation of a device the DMA layer
 * maps directly (no dma_map_ops, no IOMMU): its DMA address gives its first
 * page, as dma_direct_get_sgtable() finds it, with no allocation. NULL when
 * that does not apply (the caller then asks the DMA API for a table).
 */
struct dev_cgroup_region *dev_cgroup_dma_direct_region(struct device *dev, dma_addr_t dma_addr)
{
	unsigned long pfn;

	if (!dev || get_dma_ops(dev) || use_dma_iommu(dev))
		return NULL;
	pfn = PHYS_PFN(dma_to_phys(dev, dma_addr));
	if (!pfn_valid(pfn))
		return NULL;
	return dev_cgroup_page_region(pfn_to_page(pfn));
}
EXPORT_SYMBOL_GPL(dev_cgroup_dma_direct_region);

/*
 * The region behind a kernel address of an allocation: linear-map addresses
 * (dma_alloc_noncoherent() and friends) and vmalloc addresses are looked up
 * by their page; anything else is taken as page-allocator memory.
 */
struct dev_cgroup_region *dev_cgroup_virt_region(const void *addr)
{
	if (is_vmalloc_addr(addr)) {
		struct page *page = vmalloc_to_page(addr);

		return page ? dev_cgroup_page_region(page) : dev_cgroup_system_ram_region();
	}
	if (virt_addr_valid(addr))
		return dev_cgroup_page_region(virt_to_page(addr));
	return dev_cgroup_system_ram_region();
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
