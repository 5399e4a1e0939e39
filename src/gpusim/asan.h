/* asan.h — CF_SIM_ASAN is defined when AddressSanitizer instruments this build (gcc's
 * __SANITIZE_ADDRESS__ or clang's __has_feature), with ASan's interface then included:
 * the simulation announces its fiber switches and clears fiber stacks through it. */
#ifndef CF_GPUSIM_ASAN_H
#define CF_GPUSIM_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define CF_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CF_SIM_ASAN 1
#endif
#endif

#ifdef CF_SIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#endif
