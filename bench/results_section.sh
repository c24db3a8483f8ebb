# results_section.sh - sourced by the bench scripts that write a section of
# bench/RESULTS.md: one way to put a section in, for all of them.

# results_section TITLE SECTION OUT: the section in file SECTION (starting
# with the line "# TITLE") replaces OUT's section of that title, up to the
# next "# " heading, or is appended when OUT has none.
results_section() {
	if [ -f "$3" ] && grep -qxF "# $1" "$3"; then
		awk -v title="# $1" 'FNR == NR { sec = sec $0 "\n"; next }
			$0 == title { printf "%s", sec; skip = 1; next }
			skip && /^# / { skip = 0 }
			!skip' "$2" "$3" >"$3.new"
		cat "$3.new" >"$3"
		rm -f "$3.new"
	else
		{
			[ -s "$3" ] && echo
			cat "$2"
		} >>"$3"
	fi
}
