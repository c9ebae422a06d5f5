/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt audit: where can an encrypted VM's key leak on this host (or a copy of one)? */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "exitcode.h"

int cmd_audit(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_audit_params p = {
	    .root = o->root,
	    .domain_xml = o->domain_xml_count ? o->domain_xml : NULL,
	    .json = o->json,
	    .images = o->image_count ? o->images : NULL,
	};
	char *report = NULL;
	int worst = VMC_AUDIT_SKIP, r;

	(void)args;
	(void)nargs;
	r = vmc_audit_run(&p, &report, &worst);
	if (r < 0)
		return r;
	fputs(report, stdout);
	free(report);
	/* Nothing went wrong running the audit; the status says what it found. */
	return worst == VMC_AUDIT_FAIL ? EXIT_AUDIT_FAIL : 0;
}
