/*
 * rrdpath.c - readable, safe RRD file and data-source names; see rrdpath.h.
 * Must never produce "..", "/", a leading "." or an empty component; must
 * never promise uniqueness (that is the series index's job).
 */
#include "rrdpath.h"

#include <stdio.h>
#include <string.h>

/* Two-byte UTF-8 letters of Norwegian, Sami and neighbours, spelled in ASCII. */
static const struct {
	const char *utf8, *ascii;
} translit[] = {
    {"\xc3\xa6", "ae"}, {"\xc3\x86", "AE"}, /* æ Æ */
    {"\xc3\xb8", "o"},  {"\xc3\x98", "O"},  /* ø Ø */
    {"\xc3\xa5", "aa"}, {"\xc3\x85", "AA"}, /* å Å */
    {"\xc3\xa4", "a"},  {"\xc3\x84", "A"},  /* ä Ä */
    {"\xc3\xb6", "o"},  {"\xc3\x96", "O"},  /* ö Ö */
    {"\xc3\xbc", "u"},  {"\xc3\x9c", "U"},  /* ü Ü */
    {"\xc3\xa1", "a"},  {"\xc3\x81", "A"},  /* á Á (Sami) */
    {"\xc3\xa9", "e"},  {"\xc3\x89", "E"},  /* é É */
    {"\xc3\xaf", "i"},  {"\xc3\x8f", "I"},  /* ï Ï (South Sami) */
    {"\xc4\x8d", "c"},  {"\xc4\x8c", "C"},  /* č Č */
    {"\xc4\x91", "d"},  {"\xc4\x90", "D"},  /* đ Đ */
    {"\xc5\x8b", "n"},  {"\xc5\x8a", "N"},  /* ŋ Ŋ */
    {"\xc5\xa1", "s"},  {"\xc5\xa0", "S"},  /* š Š */
    {"\xc5\xa7", "t"},  {"\xc5\xa6", "T"},  /* ŧ Ŧ */
    {"\xc5\xbe", "z"},  {"\xc5\xbd", "Z"},  /* ž Ž */
};

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * The ASCII spelling of the character at p: kept (one byte), transliterated,
 * or NULL for "escape it". *skip tells how many bytes it used.
 */
static const char *spell(const unsigned char *p, const char *allowed, char one[2], size_t *skip)
{
	*skip = 1;
	if (is_alnum(*p) || (*p != '\0' && strchr(allowed, *p) != NULL)) {
		one[0] = (char)*p;
		one[1] = '\0';
		return one;
	}
	if (*p < 0x80)
		return NULL;
	for (size_t i = 0; i < sizeof(translit) / sizeof(translit[0]); i++)
		if (p[0] == (unsigned char)translit[i].utf8[0] &&
		    p[1] == (unsigned char)translit[i].utf8[1]) {
			*skip = 2;
			return translit[i].ascii;
		}
	/* one '_' per UTF-8 character, not per byte */
	while (p[*skip] >= 0x80 && (p[*skip] & 0xc0) == 0x80)
		(*skip)++;
	return NULL;
}

/* The readable form with the characters `allowed` besides letters and digits. */
static size_t readable(char *out, size_t max, const char *name, const char *allowed, int *changed)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = 0;

	*changed = 0;
	while (*p) {
		char one[2];
		size_t skip;
		const char *rep = spell(p, allowed, one, &skip);

		if (rep != one)
			*changed = 1;
		if (rep == NULL)
			rep = "_";
		for (; *rep; rep++) {
			if (n == max) {
				*changed = 1; /* cut */
				goto done;
			}
			out[n++] = *rep;
		}
		p += skip;
	}
done:
	if (n == 0) {
		out[n++] = '_';
		*changed = 1;
	}
	out[n] = '\0';
	return n;
}

int rrdpath_component(char *out, size_t len, const char *name)
{
	size_t max = len - 1;
	int changed;

	if (max > RRDPATH_COMPONENT_MAX)
		max = RRDPATH_COMPONENT_MAX;
	readable(out, max, name, "_-.", &changed);
	if (out[0] == '.') {
		out[0] = '_'; /* no hidden files, no "..": the rest is a plain name */
		changed = 1;
	}
	return changed;
}

int rrdpath_file(char *out, size_t len, const char *site, const char *host, const char *check,
		 const char *instance, unsigned n)
{
	char s[RRDPATH_COMPONENT_MAX + 1], h[RRDPATH_COMPONENT_MAX + 1];
	char stem[2 * RRDPATH_COMPONENT_MAX + 2], c[RRDPATH_COMPONENT_MAX + 1];
	char i[RRDPATH_COMPONENT_MAX + 1], suffix[16] = "";
	int r;

	rrdpath_component(s, sizeof(s), site);
	rrdpath_component(h, sizeof(h), host);
	rrdpath_component(c, sizeof(c), check);
	if (instance != NULL && instance[0] != '\0') {
		rrdpath_component(i, sizeof(i), instance);
		snprintf(stem, sizeof(stem), "%s-%s", c, i);
	} else {
		snprintf(stem, sizeof(stem), "%s", c);
	}
	if (n >= 2)
		snprintf(suffix, sizeof(suffix), "~%u", n);
	/* at most 2 x 64 + 1 + suffix + ".rrd": well within NAME_MAX */
	r = snprintf(out, len, "%s/%s/%s%s.rrd", s, h, stem, suffix);
	return (r < 0 || (size_t)r >= len) ? -1 : 0;
}

size_t rrdpath_dsname(char *out, size_t outsz, const char *metric, unsigned n)
{
	char suffix[16] = "";
	size_t max = outsz - 1, len;
	int changed;

	if (max > RRDPATH_DS_MAX)
		max = RRDPATH_DS_MAX;
	if (n >= 2)
		snprintf(suffix, sizeof(suffix), "_%u", n);
	len = readable(out, max > strlen(suffix) ? max - strlen(suffix) : 1, metric, "_", &changed);
	if (len + strlen(suffix) <= max) {
		memcpy(out + len, suffix, strlen(suffix) + 1);
		len += strlen(suffix);
	}
	return len;
}
