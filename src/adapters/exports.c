// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the adapters' entry points, which are written in Rust: 6.12 has
 * no EXPORT_SYMBOL for Rust code outside the kernel crate. Frameworks that
 * can be modules (videobuf2) link against these.
 */

#include <linux/cgroup_dev.h>
#include <linux/export.h>

EXPORT_SYMBOL_GPL(dev_cgroup_vb2_charge_dma_contig);
EXPORT_SYMBOL_GPL(dev_cgroup_vb2_charge_sg);
EXPORT_SYMBOL_GPL(dev_cgroup_vb2_charge_vmalloc);
EXPORT_SYMBOL_GPL(dev_cgroup_vb2_uncharge);
EXPORT_SYMBOL_GPL(dev_cgroup_dma_region);
EXPORT_SYMBOL_GPL(dev_cgroup_drm_gem_dma_charge);
EXPORT_SYMBOL_GPL(dev_cgroup_drm_gem_dma_uncharge);
EXPORT_SYMBOL_GPL(dev_cgroup_drm_register_region);
EXPORT_SYMBOL_GPL(dev_cgroup_ttm_charge);
EXPORT_SYMBOL_GPL(dev_cgroup_ttm_uncharge);
#ifdef CONFIG_DMA_SHARED_BUFFER
EXPORT_SYMBOL_GPL(dev_cgroup_dma_buf_export);
#endif
