/* A config.h as autoconf writes it (AC_USE_SYSTEM_EXTENSIONS,
 * AC_SYS_LARGEFILE on a 32-bit system), included first by each file. */
#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1
#endif
#define _FILE_OFFSET_BITS 64
