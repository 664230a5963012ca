# Thin wrapper around CMake. `make run` and `make test` install missing Debian packages first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PORT       ?= 5001
KAFKA_PORT ?= 9092
DATA_DIR   ?= ./data
JOBS       ?= $(shell nproc)

RUN_PKGS  = build-essential cmake pkg-config libuv1-dev libhiredis-dev libyajl-dev node-llhttp \
            zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev libssl-dev
TEST_PKGS = $(RUN_PKGS) clang libclang-rt-14-dev python3 redis-server curl zstd kcat python3-confluent-kafka \
            openssl
BENCH_PKGS = $(RUN_PKGS) wrk nginx-light util-linux
# npm packages the tests use (pinned), installed into tests/integration/node_modules (ignored
# by git); node and npm come from Debian unless a node with npm is already there.
NODE_PKGS = nodejs npm
TEST_NPM  = kafkajs@2.2.4

.PHONY: all build run cluster test test-quick bench deps-run deps-test deps-bench clean format

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps-run:
	@.ci/deps $(RUN_PKGS)
deps-test:
	@.ci/deps $(TEST_PKGS)
	@command -v npm >/dev/null || .ci/deps $(NODE_PKGS)
	@.ci/npm-deps tests/integration $(TEST_NPM)
deps-bench:
	@.ci/deps $(BENCH_PKGS)

# One broker, standalone (no Redis), data in ./data; HTTP on 5001, the Kafka protocol on 9092.
run: deps-run build
	./$(BUILD)/brook --standalone --port $(PORT) --kafka-port $(KAFKA_PORT) --data-dir $(DATA_DIR)

# A private redis-server and three brokers on 5001-5003 (Kafka 9092-9094), like the seed's
# three terminals.
cluster: deps-test build
	tests/lib/cluster.sh $(BUILD)/brook

# Release build with warnings as errors, then the ASan+UBSan (clang, with fuzz targets) build,
# whose ctest runs unit, integration and fuzz tests.
test: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBROOK_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBROOK_WERROR=ON \
	    -DBROOK_SANITIZE=ON -DBROOK_FUZZ=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Unit tests only, in the Release build: the fast inner loop.
test-quick: build
	cd $(BUILD) && ctest --output-on-failure -L unit

bench: deps-bench build
	bench/run.sh $(BUILD)/brook

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/*.[ch]' 'bench/*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
