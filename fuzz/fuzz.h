/*
 * fuzz.h: what every fuzz target shares. Each target defines
 * LLVMFuzzerTestOneInput over one parser Cairn feeds untrusted bytes to.
 * `make fuzz` links them with libFuzzer (clang); `make fuzz-replay` links
 * the same files with replay.c, a main that runs each corpus file through
 * the entry point once, so the corpora are replayed by make test on any
 * compiler.
 */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the process with a message when a property the target checks
 * does not hold: libFuzzer records the input as a crash. */
#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(__FILE__, __LINE__, #cond);                  \
	} while (0)

__attribute__((noreturn)) void fuzz_fail(const char *file, int line,
                                         const char *what);

#endif
