# Vakt - thin wrapper around CMake; see README.md.
#   make demo            install what is missing, build (no tests), run collector + agent on loopback
#   make test            install what is missing, build, run every test with ctest
#   make test-sanitize   the same in an ASan+UBSan build (build-sanitize/)
#   make fuzz            every libFuzzer target for 20 s (clang, build-fuzz/)
#   make bench           install what is missing, build, run bench/run.sh (rewrites bench/RESULTS.md)
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure
# tests run side by side, as many as cores: most wait for their intervals;
# tests/CMakeLists.txt keeps apart those that may not share the machine
TEST_JOBS ?= $(JOBS)

.PHONY: all deps deps-test build demo test test-sanitize fuzz bench clean

all: build

deps:
	tools/install-deps.sh build runtime

deps-test:
	tools/install-deps.sh build runtime test

# Each target states VAKT_TESTS: the build directory is shared, and a value
# cached by one target must not make the other need packages it did not install.
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAKT_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	tools/demo.sh $(BUILD)

test: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAKT_TESTS=ON \
		-DVAKT_TESTS_MAY_SKIP=OFF
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest -j $(TEST_JOBS) $(CTEST_ARGS)

test-sanitize: deps-test
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVAKT_SANITIZE=ON -DVAKT_TESTS=ON \
		-DVAKT_TESTS_MAY_SKIP=OFF
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j $(TEST_JOBS) $(CTEST_ARGS)

# Only the fuzz targets are built: VAKT_FUZZ instruments the libraries, and
# the daemons linking them are not needed for this.
fuzz: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAKT_TESTS=ON -DVAKT_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_frame_libfuzzer \
		fuzz_session_msg_libfuzzer fuzz_agent_conf_libfuzzer fuzz_collector_conf_libfuzzer \
		fuzz_series_wire_libfuzzer fuzz_spool_libfuzzer fuzz_journal_libfuzzer \
		fuzz_trap_libfuzzer fuzz_snmp_ber_libfuzzer fuzz_packet_libfuzzer fuzz_icmp_reply_libfuzzer \
		fuzz_dns_wire_libfuzzer
	cd $(FUZZ_BUILD) && ctest -j $(TEST_JOBS) -L libfuzzer $(CTEST_ARGS)

# the test set: run.sh counts instructions with valgrind; the tests are not built
bench:
	tools/install-deps.sh build runtime test bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAKT_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS) --target bench_store bench_wire bench_ingest vakt-collector vakt-agent
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(FUZZ_BUILD)
