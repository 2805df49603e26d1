/* version.h — the gotflow version, reported by `gotflow version`, Hello messages and meta.json. */
#ifndef GF_CORE_VERSION_H
#define GF_CORE_VERSION_H

#define GF_VERSION "0.1.0"

#endif
