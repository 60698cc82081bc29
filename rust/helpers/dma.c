// SPDX-License-Identifier: GPL-2.0
/* DMA API inlines, for rust/kernel/dma.rs (the dev cgroup controller's overlay). */

#include <linux/dma-mapping.h>

void rust_helper_dma_free_noncoherent(struct device *dev, size_t size, void *vaddr,
				      dma_addr_t dma_handle, enum dma_data_direction dir)
{
	dma_free_noncoherent(dev, size, vaddr, dma_handle, dir);
}
