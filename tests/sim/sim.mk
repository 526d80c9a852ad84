# tests/sim/sim.mk - builds the provider simulator and its load client; included by the top
# Makefile (`include tests/sim/sim.mk`), which defines BUILD, CC, CFLAGS and LDFLAGS.
#   $(BUILD)/fql-sim         the simulator (tests/sim/src/*.c)
#   $(BUILD)/sim-loadgen     the epoll load client of bench/sim and the concurrency test
#   make test-sim            builds both and runs tests/sim/run_tests.sh
#   make bench-sim           builds both and runs bench/sim/run.sh
# It also works alone: make -f tests/sim/sim.mk BUILD=build test-sim

BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes

SIM_PKG_CFLAGS := $(shell pkg-config --cflags libmicrohttpd jansson 2>/dev/null)
SIM_LIBS       := $(shell pkg-config --libs libmicrohttpd jansson 2>/dev/null || echo -lmicrohttpd -ljansson) \
                  -lssl -lcrypto -lm -lpthread
SIM_SRCS       := $(wildcard tests/sim/src/*.c)
SIM_OBJS       := $(patsubst tests/sim/src/%.c,$(BUILD)/sim/%.o,$(SIM_SRCS))

.PHONY: test-sim bench-sim sim

sim: $(BUILD)/fql-sim $(BUILD)/sim-loadgen

$(BUILD)/sim/%.o: tests/sim/src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 $(SIM_PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fql-sim: $(SIM_OBJS)
	$(CC) $(CFLAGS) -o $@ $(SIM_OBJS) $(LDFLAGS) $(SIM_LIBS)

$(BUILD)/sim-loadgen: bench/sim/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 -MMD -MP -MF $(BUILD)/sim/loadgen.d -o $@ $< $(LDFLAGS) -lm -lpthread

test-sim: $(BUILD)/fql-sim $(BUILD)/sim-loadgen
	@BUILD=$(BUILD) bash tests/sim/run_tests.sh

bench-sim: $(BUILD)/fql-sim $(BUILD)/sim-loadgen
	@BUILD=$(BUILD) bash bench/sim/run.sh

-include $(SIM_OBJS:.o=.d) $(BUILD)/sim/loadgen.d
