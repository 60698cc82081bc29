// SPDX-License-Identifier: GPL-2.0
/*
 * Built only when a framework the adapters' suites need is not built in
 * (tests/kunit/Makefile): one case per suite left out, reported as skipped
 * with what is missing, so that a kernel configured without it shows the
 * gap in the results instead of a shorter list.
 */

#include <kunit/test.h>

static const char *const missing[] = {
#ifdef DEVCG_MISSING_DMA_HEAP
	"dev_cgroup_dma_heap: CONFIG_DMABUF_HEAPS is not built in",
#endif
#ifdef DEVCG_MISSING_VB2
	"dev_cgroup_vb2: CONFIG_VIDEOBUF2_DMA_CONTIG, _DMA_SG and _VMALLOC must all be built in",
#endif
#ifdef DEVCG_MISSING_GEM_DMA
	"dev_cgroup_drm_gem_dma: CONFIG_DRM_GEM_DMA_HELPER and CONFIG_DRM_KUNIT_TEST_HELPERS must be built in",
#endif
#ifdef DEVCG_MISSING_TTM
	"dev_cgroup_ttm: CONFIG_DRM_TTM and CONFIG_DRM_KUNIT_TEST_HELPERS must be built in",
#endif
};

static const void *missing_gen(const void *prev, char *desc)
{
	const char *const *next = prev ? (const char *const *)prev + 1 : missing;

	if (next >= missing + ARRAY_SIZE(missing))
		return NULL;
	strscpy(desc, *next, KUNIT_PARAM_DESC_SIZE);
	return next;
}

static void suite_left_out(struct kunit *test)
{
	kunit_skip(test, "%s", *(const char *const *)test->param_value);
}

static struct kunit_case missing_framework_cases[] = {
	KUNIT_CASE_PARAM(suite_left_out, missing_gen),
	{}
};

static struct kunit_suite missing_framework_suite = {
	.name = "dev_cgroup_missing_frameworks",
	.test_cases = missing_framework_cases,
};
kunit_test_suite(missing_framework_suite);
