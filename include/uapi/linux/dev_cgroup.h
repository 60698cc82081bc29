/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The dev cgroup controller's ioctl on dma-buf file descriptors.
 *
 * DEV_CGROUP_IOC_TAKE, on a dma-buf fd: the calling task's cgroup takes the
 * buffer's whole charge (same region, same consumer in dev.stat). The caller
 * is charged first, under all its limits; only then is the previous payer
 * uncharged. Errors: ENOMEM (a dev.max of the caller's cgroup or of an
 * ancestor refuses it: nothing changed, the refusal is counted in
 * dev.events), EOPNOTSUPP (the controller did not charge this buffer: an
 * import, or an exporter that does not charge), ENODEV (the buffer's region
 * is going away), EINVAL (flags not 0). A buffer already charged to the
 * caller's cgroup succeeds unchanged. Only the caller's own cgroup can be
 * charged: charges are pulled, never pushed. The charge stays with the last
 * taker for as long as any fd of the buffer is open, whoever holds it: take
 * only buffers allocated on your behalf. @bytes is written (0) before
 * anything moves, so an argument that cannot be written fails with EFAULT
 * and changes nothing. See Documentation/admin-guide/cgroup-dev.rst.
 */
#ifndef _UAPI_LINUX_DEV_CGROUP_H
#define _UAPI_LINUX_DEV_CGROUP_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct dev_cgroup_take {
	__u64 flags;	/* in: must be 0 */
	__u64 bytes;	/* out: bytes now charged to the caller's cgroup for this buffer */
};

#define DEV_CGROUP_IOC_TAKE	_IOWR('b', 0x40, struct dev_cgroup_take)

#endif /* _UAPI_LINUX_DEV_CGROUP_H */
