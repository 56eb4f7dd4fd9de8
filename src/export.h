/*
 * export.h - symbol visibility: the library is built with hidden visibility,
 * and only functions marked SP_PUBLIC (the syncprof_ API) are exported.
 */
#ifndef SP_EXPORT_H
#define SP_EXPORT_H

#define SP_PUBLIC __attribute__((visibility("default")))

/* Thread-locals of the library: initial-exec, so reading one is a plain
 * load even from a shared library (it is loaded at start-up or preloaded). */
#define SP_TLS __thread __attribute__((tls_model("initial-exec")))

#endif /* SP_EXPORT_H */
