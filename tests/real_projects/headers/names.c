/* names.c - a C file that includes nothing and defines names the C
 * library's headers would: with the forced include it must still compile,
 * so the include defined none of them (no <errno.h>, <time.h>, <stddef.h>,
 * <stdbool.h>, <semaphore.h>, <stdint.h>...). */
#define EINVAL 1
#define NULL 0
#define true 2
typedef int bool;
typedef char int64_t;
typedef char size_t;
struct timespec { char c; };
static int clock, timezone, daylight, sem_init, errno_value;
int main(void) { return clock + timezone + daylight + sem_init + errno_value + (int)sizeof(struct timespec) - 1 + EINVAL - 1 + true - 2; }
