/*
 * bench_wire.c - bytes on the wire per sample: what vakt-agent sends for a
 * site's SNMP polls, in the full form (protocol 1) and the compact form
 * (protocol 2), with the collector's Acks; and the same values as collectd
 * PUTVAL lines (-p FILE), for bench/wire.sh to feed a real collectd whose
 * network plugin's packets it counts.
 *
 * The agent's bytes are not estimated: each poll becomes the full-form frame
 * the uplink queues (one batch per device poll, as its 250 ms batching makes
 * of a poll), and series_tx_compact() rewrites it exactly as the uplink does
 * on a protocol-2 session. An Ack frame per batch counts the way back.
 *
 * Usage: bench_wire [-d devices] [-i ports] [-n polls] [-s seconds] [-p putval-file]
 * Prints one line: key=value pairs (see bench/wire.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "series_wire.h"

static unsigned long long rnd_state = 88172645463325252ULL;

static unsigned long long rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

int main(int argc, char **argv)
{
	unsigned devices = 4, ports = 48, polls = 60, step = 60;
	const char *putval = NULL;
	FILE *pv = NULL;
	unsigned long long full = 0, compact = 0, acks = 0, samples = 0, batches = 0;
	unsigned long long *octets;
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	int64_t t0 = 1764547200000LL; /* 2025-12-01 00:00 UTC */
	int opt;

	while ((opt = getopt(argc, argv, "d:i:n:s:p:")) != -1) {
		switch (opt) {
		case 'd':
			devices = (unsigned)atoi(optarg);
			break;
		case 'i':
			ports = (unsigned)atoi(optarg);
			break;
		case 'n':
			polls = (unsigned)atoi(optarg);
			break;
		case 's':
			step = (unsigned)atoi(optarg);
			break;
		case 'p':
			putval = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: bench_wire [-d devices] [-i ports] [-n polls] [-s seconds] "
				"[-p putval-file]\n");
			return 2;
		}
	}
	if (devices == 0 || ports == 0 || polls == 0 || step == 0)
		return 2;
	if (putval != NULL && (pv = fopen(putval, "w")) == NULL) {
		perror(putval);
		return 1;
	}
	octets = calloc((size_t)devices * ports * 2, sizeof(*octets));
	for (unsigned p = 0; p < polls; p++) {
		for (unsigned d = 0; d < devices; d++) {
			size_t n = (size_t)ports * 3, k = 0, len, clen, alen;
			Vakt__Sample *s = calloc(n, sizeof(*s));
			Vakt__Sample **sp = calloc(n, sizeof(*sp));
			char host[32], (*inst)[16] = calloc(ports, sizeof(*inst));
			Vakt__Batch b = VAKT__BATCH__INIT;
			Vakt__Frame f = VAKT__FRAME__INIT;
			Vakt__Ack a = VAKT__ACK__INIT;
			uint8_t *frame, *c, *ack;
			/* the walk of one device takes a few hundred ms, in ms steps */
			int64_t t = t0 + (int64_t)p * step * 1000 + d * 7;

			snprintf(host, sizeof(host), "sw%u.rissa", d + 1);
			for (unsigned i = 0; i < ports; i++) {
				static const char *metric[3] = {"in_octets", "out_octets",
								"oper_status"};
				unsigned long long *o = &octets[((size_t)d * ports + i) * 2];

				snprintf(inst[i], sizeof(inst[i]), "Gi0/%u", i + 1);
				/* busy ports move megabytes a minute, idle ones little */
				o[0] += rnd() % (i % 4 ? 100000000ULL : 1000ULL);
				o[1] += rnd() % (i % 4 ? 80000000ULL : 1000ULL);
				for (int m = 0; m < 3; m++, k++) {
					vakt__sample__init(&s[k]);
					s[k].host = host;
					s[k].check = "if";
					s[k].instance = inst[i];
					s[k].metric = (char *)metric[m];
					s[k].interval = step;
					s[k].time_ms = t + i / 8;
					if (m < 2) {
						s[k].kind = VAKT__KIND__DERIVE;
						s[k].counter = o[m];
						s[k].width = 64;
					} else {
						s[k].kind = VAKT__KIND__GAUGE;
						s[k].value = i % 5 ? 1 : 2;
					}
					sp[k] = &s[k];
				}
				if (pv != NULL)
					fprintf(pv,
						"PUTVAL \"%s/snmp-Gi0_%u/if_octets\" interval=%u "
						"%.3f:%llu:%llu\n"
						"PUTVAL \"%s/snmp-Gi0_%u/gauge-oper_status\" "
						"interval=%u "
						"%.3f:%g\n",
						host, i + 1, step, (double)(t + i / 8) / 1000.0,
						o[0], o[1], host, i + 1, step,
						(double)(t + i / 8) / 1000.0, s[k - 1].value);
			}
			b.seq = ++batches;
			b.samples = sp;
			b.n_samples = n;
			f.msg_case = VAKT__FRAME__MSG_BATCH;
			f.batch = &b;
			frame = frame_encode(&f, &len);
			c = series_tx_compact(tx, frame, len, &clen);
			if (c == NULL) {
				fprintf(stderr, "bench_wire: batch %llu did not compact\n",
					batches);
				return 1;
			}
			a.seq = b.seq;
			f.msg_case = VAKT__FRAME__MSG_ACK;
			f.ack = &a;
			ack = frame_encode(&f, &alen);
			full += len;
			compact += clen;
			acks += alen;
			samples += n;
			free(ack);
			free(c);
			free(frame);
			free(s);
			free(sp);
			free(inst);
		}
	}
	printf("devices=%u ports=%u polls=%u step=%u samples=%llu batches=%llu full_bytes=%llu "
	       "compact_bytes=%llu ack_bytes=%llu full_per_sample=%.2f compact_per_sample=%.2f\n",
	       devices, ports, polls, step, samples, batches, full, compact, acks,
	       (double)(full + acks) / (double)samples, (double)(compact + acks) / (double)samples);
	if (pv != NULL)
		fclose(pv);
	free(octets);
	series_tx_free(tx);
	return 0;
}
