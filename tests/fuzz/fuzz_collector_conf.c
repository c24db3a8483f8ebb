/*
 * fuzz_collector_conf.c - libFuzzer target for the collector's configuration
 * parser (collector_conf_load, with its channel and rule sections). Any input
 * must end in a config or NULL, never a crash or a leak; nothing is started.
 */
#include <stdint.h>

#include "collector.h"
#include "fuzz_conf_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collector_conf *conf = collector_conf_load(fuzz_conf_write(data, size));

	if (conf != NULL && (conf->data_dir == NULL || conf->step < 1 || conf->step > 3600 ||
			     conf->max_frame < 4096))
		abort(); /* validation let an out-of-range value through */
	collector_conf_free(conf);
	return 0;
}
