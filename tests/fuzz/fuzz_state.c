/*
 * fuzz_state.c - libFuzzer harness for the helper's state file header
 * (helper/state_file.c): whatever bytes a crash, a disk error or a hostile
 * root left in state_dir, decoding must never read out of bounds or crash,
 * and anything it accepts must be exactly what encoding that payload gives.
 * Every input is also wrapped as a payload and must round-trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "core/state_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KIND SECTX_STATE_KIND('F', 'U', 'Z', 'Z')

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	const uint8_t *payload = NULL;
	uint8_t *image = NULL, *again = NULL;
	size_t len = 0, image_len = 0, again_len = 0;
	uint32_t version = 0;
	char why[160];

	/* raw bytes as a file */
	if (sectx_state_decode(data, size, KIND, 3, 1u << 20, &payload, &len, &version, why,
			       sizeof(why)) == 0) {
		if (sectx_state_encode(mem, KIND, version, payload, len, &again, &again_len) != 0 ||
		    again_len != size || memcmp(again, data, size) != 0) {
			abort();
		}
	} else if (memchr(why, '\0', sizeof(why)) == NULL) {
		abort();
	}
	/* the bytes as a payload: must come back unchanged */
	if (sectx_state_encode(mem, KIND, 2, data, size, &image, &image_len) != 0 ||
	    sectx_state_decode(image, image_len, KIND, 3, 1u << 20, &payload, &len, &version, why,
			       sizeof(why)) != 0 ||
	    version != 2 || len != size || (size > 0 && memcmp(payload, data, size) != 0)) {
		abort();
	}
	talloc_free(mem);
	return 0;
}
