/*
 * fuzz_config.c - libFuzzer harness for the config parser.  The file is
 * written by root, but a parser that crashes or leaks on odd input turns a
 * typo into an outage: any bytes must give a config or a list of errors.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <talloc.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *tmp = talloc_new(NULL);
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;
	int ret;

	ret = sectx_config_parse_buffer(tmp, "fuzz.conf", (const char *)data, size, &cfg, &errs);
	if ((ret == 0) != (cfg != NULL)) {
		__builtin_trap();
	}
	if (ret != 0 && (errs == NULL || errs->count == 0) && ret != -ENOMEM) {
		__builtin_trap(); /* a refusal must say why */
	}
	talloc_free(tmp); /* leaks are LeakSanitizer's to find */
	return 0;
}
