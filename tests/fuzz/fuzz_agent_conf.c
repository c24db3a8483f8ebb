/*
 * fuzz_agent_conf.c - libFuzzer target for the agent's configuration parser
 * (agent_conf_load over libconfuse). Any input must end in a config or NULL,
 * never a crash or a leak; it must never start a check or open a socket.
 */
#include <stdint.h>

#include "agent.h"
#include "fuzz_conf_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_conf *conf = agent_conf_load(fuzz_conf_write(data, size));

	if (conf != NULL && (conf->site == NULL || conf->name == NULL || conf->ncollectors == 0))
		abort(); /* a config without these must have been refused */
	agent_conf_free(conf);
	return 0;
}
