/*
 * profile.h - device profiles: files of section keys (deploy/profiles/
 * switch.conf, ups.conf, ...) that a section names with `profile = "ups"`
 * and takes as its defaults. Read once per config load, whatever the
 * number of sections naming them; never changes a key the section sets.
 */
#ifndef VAKT_PROFILE_H
#define VAKT_PROFILE_H

#include <confuse.h>

/*
 * The profiles read during one config load, for sections of schema `opts`.
 * Free the set only once that load's parse has ended (cfg_free ends the
 * lexer the parse uses).
 */
struct profile_set;
struct profile_set *profile_set_new(cfg_opt_t *opts);
void profile_set_free(struct profile_set *ps);

/*
 * Fills in `sec` what the profiles it names (key "profile", in order) set
 * and the section does not: a later profile's value wins over an earlier
 * one's; the lists named in `merged` (NULL-terminated) and titled
 * subsections add up instead, a subsection of the section's own replacing
 * a profile's of the same title. Profiles are DIR/NAME.conf. Returns 0, or
 * -1 after reporting why (FILE:LINE, an unknown name listing the known ones).
 */
int profile_apply(struct profile_set *ps, cfg_t *sec, const char *dir, const char *const *merged);

/* The line of the first section that named a profile; 0 when none did yet. */
int profile_set_first_use(const struct profile_set *ps);

#endif
