/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What rust/kernel/cgroup.rs, rust/kernel/seq_file.rs and
 * rust/kernel/cgroup/dev.rs bind: cgroup core, seq_file, and the dev cgroup
 * controller's C interfaces (include/linux/cgroup_dev.h for drivers, and the
 * controller's glue.h). Included from bindings_helper.h (patches/0002), so a
 * prototype that drifts from its Rust definition fails the build.
 */
#include <linux/cgroup.h>
#include <linux/cgroup_dev.h>
#include <linux/cma.h>
#include <linux/dma-buf.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <uapi/linux/dev_cgroup.h>

#include "../../kernel/cgroup/dev/src/core/glue.h"
