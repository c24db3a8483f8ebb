/*
 * fuzz_dns_wire.c - libFuzzer target for the DNS probe's answer parser
 * (agent/dns_wire.c): any bytes as the answer to a query of id 0x1234 for
 * www.kommune.no, of the type the first byte picks. Aborts when a parse
 * says OK with more text entries than answers, an entry that is not a
 * terminated printable string, or a failure without a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = {DNS_T_A,   DNS_T_AAAA,  DNS_T_MX, DNS_T_SOA, DNS_T_PTR,
				    DNS_T_TXT, DNS_T_CNAME, DNS_T_NS, DNS_T_SRV};
	struct dns_response r;
	char why[160] = "";
	int type;

	if (size < 1)
		return 0;
	type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	switch (dns_response_parse(data + 1, size - 1, 0x1234, "www.kommune.no", type, &r, why,
				   sizeof(why))) {
	case DNS_PARSE_OK:
		CHECK(r.ntext <= DNS_ANSWERS_MAX && r.ntext <= r.ancount);
		CHECK(r.matching <= r.ancount);
		for (unsigned i = 0; i < r.ntext; i++) {
			size_t n = strnlen(r.text[i], DNS_TEXT_MAX);

			CHECK(n < DNS_TEXT_MAX);
			for (size_t k = 0; k < n; k++)
				CHECK(r.text[i][k] >= 0x20 && r.text[i][k] < 0x7f);
		}
		break;
	default:
		CHECK(why[0] != '\0' && strnlen(why, sizeof(why)) < sizeof(why));
		break;
	}
	return 0;
}
