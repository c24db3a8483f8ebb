/*
 * dns_wire.c - the DNS probe's query builder and strict answer parser
 * (RFC 1035). Every byte read is checked against the packet's end first; a
 * compression pointer must point before the label that holds it and a name
 * may not grow past 255 bytes, so no packet makes the parser loop or read
 * outside it.
 */
#include "dns_wire.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DNS_HEADER    12
#define DNS_CLASS_IN  1
#define DNS_WIRE_NAME 255 /* a name's bytes on the wire, labels and lengths */
#define DNS_HOPS_MAX  64  /* compression pointers followed in one name */

static const struct {
	const char *name;
	int type;
} dns_types[] = {
    {"A", DNS_T_A},         {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX},
    {"SOA", DNS_T_SOA},     {"PTR", DNS_T_PTR},   {"TXT", DNS_T_TXT},
    {"CNAME", DNS_T_CNAME}, {"NS", DNS_T_NS},     {"SRV", DNS_T_SRV},
};

static const char *const dns_rcodes[] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
};

int dns_type_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (strcasecmp(dns_types[i].name, s) == 0)
			return dns_types[i].type;
	return -1;
}

const char *dns_type_str(int type)
{
	static char buf[16];

	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (dns_types[i].type == type)
			return dns_types[i].name;
	snprintf(buf, sizeof(buf), "TYPE%d", type);
	return buf;
}

int dns_rcode_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(dns_rcodes) / sizeof(dns_rcodes[0]); i++)
		if (strcasecmp(dns_rcodes[i], s) == 0)
			return (int)i;
	return -1;
}

const char *dns_rcode_str(int rcode)
{
	static char buf[16];

	if (rcode >= 0 && (size_t)rcode < sizeof(dns_rcodes) / sizeof(dns_rcodes[0]))
		return dns_rcodes[rcode];
	snprintf(buf, sizeof(buf), "RCODE%d", rcode);
	return buf;
}

int dns_reverse_name(const char *addr, char *out, size_t outlen)
{
	unsigned char a[16];
	size_t o = 0;

	if (inet_pton(AF_INET, addr, a) == 1) {
		int n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);

		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (inet_pton(AF_INET6, addr, a) != 1)
		return -1;
	if (outlen < 64 + sizeof("ip6.arpa"))
		return -1;
	for (int i = 15; i >= 0; i--) {
		static const char hex[] = "0123456789abcdef";

		out[o++] = hex[a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dns_query_build(uint8_t *buf, size_t buflen, uint16_t id, const char *name, int type,
		    const char **why)
{
	size_t o = DNS_HEADER, nlen = strlen(name);
	const char *p = name, *end = name + nlen;

	if (nlen > 0 && name[nlen - 1] == '.')
		end--;
	if (end == name) {
		*why = "the name is empty";
		return -1;
	}
	if (buflen < DNS_HEADER + DNS_WIRE_NAME + 4) {
		*why = "no room for the query";
		return -1;
	}
	memset(buf, 0, DNS_HEADER);
	put16(buf, id);
	buf[2] = 0x01; /* RD: a resolver is asked to recurse, an authority ignores it */
	put16(buf + 4, 1);
	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t l = (size_t)((dot ? dot : end) - p);

		if (l == 0) {
			*why = "the name has an empty label (two dots)";
			return -1;
		}
		if (l > 63) {
			*why = "a label of the name is longer than 63 bytes";
			return -1;
		}
		if (o - DNS_HEADER + 1 + l + 1 > DNS_WIRE_NAME) {
			*why = "the name is longer than 255 bytes";
			return -1;
		}
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f) {
				*why = "the name holds a space or a control or non-ASCII byte";
				return -1;
			}
		buf[o++] = (uint8_t)l;
		memcpy(buf + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	buf[o++] = 0;
	put16(buf + o, (unsigned)type);
	put16(buf + o + 2, DNS_CLASS_IN);
	return (int)(o + 4);
}

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * Reads the name at *off into out as text ("a.b.", "." for the root),
 * escaping dots and unprintable bytes inside labels (\046, \007). *off
 * moves past the name where it sits (its first pointer ends it). -1 with
 * why when the name runs past the packet, loops or is too long.
 */
static int name_read(const uint8_t *msg, size_t len, size_t *off, char *out, size_t outlen,
		     char *why, size_t whylen)
{
	size_t pos = *off, o = 0, wire = 0;
	int jumped = 0, hops = 0;

	for (;;) {
		unsigned b;

		if (pos >= len) {
			say(why, whylen, "a name runs past the end of the packet");
			return -1;
		}
		b = msg[pos];
		if ((b & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= len) {
				say(why, whylen, "a compression pointer runs past the end");
				return -1;
			}
			ptr = (size_t)(b & 0x3f) << 8 | msg[pos + 1];
			/* only backwards: a pointer forward or to itself could loop */
			if (ptr >= pos || ++hops > DNS_HOPS_MAX) {
				say(why, whylen, "a compression pointer at byte %zu loops", pos);
				return -1;
			}
			if (!jumped)
				*off = pos + 2;
			jumped = 1;
			pos = ptr;
			continue;
		}
		if (b & 0xc0) {
			say(why, whylen, "a label of unknown type 0x%02x at byte %zu", b, pos);
			return -1;
		}
		wire += b + 1;
		if (wire > DNS_WIRE_NAME) {
			say(why, whylen, "a name is longer than 255 bytes");
			return -1;
		}
		if (b == 0) {
			if (!jumped)
				*off = pos + 1;
			if (o == 0)
				out[o++] = '.';
			out[o] = '\0';
			return 0;
		}
		if (pos + 1 + b > len) {
			say(why, whylen, "a label runs past the end of the packet");
			return -1;
		}
		for (size_t i = 0; i < b; i++) {
			unsigned char ch = msg[pos + 1 + i];
			int n;

			if (ch > 0x20 && ch < 0x7f && ch != '.' && ch != '\\')
				n = snprintf(out + o, outlen - o, "%c", ch);
			else
				n = snprintf(out + o, outlen - o, "\\%03u", ch);
			if (n < 0 || (size_t)n >= outlen - o) {
				say(why, whylen, "a name does not fit %zu bytes of text", outlen);
				return -1;
			}
			o += (size_t)n;
		}
		if (o + 2 > outlen) {
			say(why, whylen, "a name does not fit %zu bytes of text", outlen);
			return -1;
		}
		out[o++] = '.';
		pos += 1 + b;
	}
}

/* The question's name equals the asked one: any case, trailing dot or not. */
static int same_name(const char *got, const char *asked)
{
	size_t n = strlen(asked);

	if (n > 0 && asked[n - 1] == '.')
		n--;
	return strlen(got) == n + 1 && strncasecmp(got, asked, n) == 0 && got[n] == '.';
}

/* Appends printf output to out (outlen bytes), cutting what does not fit. */
static void text_add(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text_add(char *out, size_t outlen, const char *fmt, ...)
{
	size_t o = strlen(out);
	va_list ap;

	if (o + 1 >= outlen)
		return;
	va_start(ap, fmt);
	vsnprintf(out + o, outlen - o, fmt, ap);
	va_end(ap);
}

/*
 * The data of one record (rdlen bytes at msg + off) as text into out; -1
 * with why when it does not have the shape its type requires.
 */
static int rdata_text(const uint8_t *msg, size_t len, size_t off, size_t rdlen, int type, char *out,
		      size_t outlen, char *why, size_t whylen)
{
	char name[DNS_NAME_MAX], name2[DNS_NAME_MAX];
	size_t end = off + rdlen, p = off, fixed = 0;

	out[0] = '\0';
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rdlen != (type == DNS_T_A ? 4u : 16u)) {
			say(why, whylen, "an %s record of %zu bytes", dns_type_str(type), rdlen);
			return -1;
		}
		inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, msg + off, out, (socklen_t)outlen);
		return 0;
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_MX:
	case DNS_T_SRV:
		fixed = type == DNS_T_MX ? 2 : type == DNS_T_SRV ? 6 : 0;
		if (rdlen < fixed + 1) {
			say(why, whylen, "an %s record of %zu bytes", dns_type_str(type), rdlen);
			return -1;
		}
		p = off + fixed;
		/* the name is read within the whole packet (pointers), but must end at rdlen */
		if (name_read(msg, len, &p, name, sizeof(name), why, whylen) < 0)
			return -1;
		if (p != end) {
			say(why, whylen, "an %s record whose name does not end with its data",
			    dns_type_str(type));
			return -1;
		}
		if (type == DNS_T_MX)
			text_add(out, outlen, "%u %s", get16(msg + off), name);
		else if (type == DNS_T_SRV)
			text_add(out, outlen, "%u %u %u %s", get16(msg + off), get16(msg + off + 2),
				 get16(msg + off + 4), name);
		else
			text_add(out, outlen, "%s", name);
		return 0;
	case DNS_T_SOA:
		if (name_read(msg, end, &p, name, sizeof(name), why, whylen) < 0 ||
		    name_read(msg, end, &p, name2, sizeof(name2), why, whylen) < 0)
			return -1;
		if (end - p != 20) {
			say(why, whylen, "an SOA record whose numbers are %zu bytes, not 20",
			    end - p);
			return -1;
		}
		text_add(out, outlen, "%s %s %u %u %u %u %u", name, name2, get32(msg + p),
			 get32(msg + p + 4), get32(msg + p + 8), get32(msg + p + 12),
			 get32(msg + p + 16));
		return 0;
	case DNS_T_TXT:
		if (rdlen == 0) {
			say(why, whylen, "a TXT record without a string");
			return -1;
		}
		while (p < end) {
			size_t l = msg[p];

			if (p + 1 + l > end) {
				say(why, whylen, "a TXT string runs past its record");
				return -1;
			}
			if (p > off)
				text_add(out, outlen, " ");
			for (size_t i = 0; i < l; i++) {
				unsigned char ch = msg[p + 1 + i];

				if (ch >= 0x20 && ch < 0x7f)
					text_add(out, outlen, "%c", ch);
				else
					text_add(out, outlen, "\\%03u", ch);
			}
			p += 1 + l;
		}
		return 0;
	default:
		text_add(out, outlen, "%s (%zu bytes)", dns_type_str(type), rdlen);
		return 0;
	}
}

enum dns_parse_result dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
					 const char *name, int type, struct dns_response *r,
					 char *why, size_t whylen)
{
	char qname[DNS_NAME_MAX];
	size_t off = DNS_HEADER;
	unsigned qdcount;

	memset(r, 0, sizeof(*r));
	if (len < DNS_HEADER) {
		say(why, whylen, "a packet of %zu bytes, shorter than a DNS header", len);
		return DNS_PARSE_OTHER;
	}
	if (get16(msg) != id) {
		say(why, whylen, "an answer with id %u, not %u", get16(msg), id);
		return DNS_PARSE_OTHER;
	}
	if (!(msg[2] & 0x80)) {
		say(why, whylen, "a query, not an answer");
		return DNS_PARSE_OTHER;
	}
	qdcount = get16(msg + 4);
	r->rcode = msg[3] & 0x0f;
	r->truncated = (msg[2] & 0x02) != 0;
	r->ancount = get16(msg + 6);
	if ((msg[2] >> 3 & 0x0f) != 0) {
		say(why, whylen, "an answer of opcode %u", msg[2] >> 3 & 0x0f);
		return DNS_PARSE_MALFORMED;
	}
	/* our question must come back: an answer to another one is not ours */
	if (qdcount != 1) {
		say(why, whylen, "an answer with %u questions", qdcount);
		return DNS_PARSE_OTHER;
	}
	if (name_read(msg, len, &off, qname, sizeof(qname), why, whylen) < 0)
		return DNS_PARSE_OTHER;
	if (off + 4 > len) {
		say(why, whylen, "the question runs past the end of the packet");
		return DNS_PARSE_OTHER;
	}
	if (!same_name(qname, name) || get16(msg + off) != (unsigned)type ||
	    get16(msg + off + 2) != DNS_CLASS_IN) {
		say(why, whylen, "an answer to %s %s, not to the question asked", qname,
		    dns_type_str((int)get16(msg + off)));
		return DNS_PARSE_OTHER;
	}
	off += 4;
	/* a truncated answer may end anywhere: what it lacks is asked over TCP */
	if (r->truncated)
		return DNS_PARSE_OK;
	for (unsigned i = 0; i < r->ancount; i++) {
		char owner[DNS_NAME_MAX], text[DNS_TEXT_MAX];
		unsigned rtype;
		size_t rdlen;

		if (name_read(msg, len, &off, owner, sizeof(owner), why, whylen) < 0)
			return DNS_PARSE_MALFORMED;
		if (off + 10 > len) {
			say(why, whylen, "answer %u of %u runs past the end of the packet", i + 1,
			    r->ancount);
			return DNS_PARSE_MALFORMED;
		}
		rtype = get16(msg + off);
		rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len) {
			say(why, whylen,
			    "the data of answer %u of %u runs past the end of the packet", i + 1,
			    r->ancount);
			return DNS_PARSE_MALFORMED;
		}
		if (rdata_text(msg, len, off, rdlen, (int)rtype, text, sizeof(text), why, whylen) <
		    0)
			return DNS_PARSE_MALFORMED;
		off += rdlen;
		if (rtype == (unsigned)type)
			r->matching++;
		if (r->ntext < DNS_ANSWERS_MAX) {
			r->text_type[r->ntext] = (int)rtype;
			snprintf(r->text[r->ntext++], DNS_TEXT_MAX, "%s", text);
		}
	}
	return DNS_PARSE_OK;
}
