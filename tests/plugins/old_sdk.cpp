// A test plugin built against another SDK version: dlc must refuse it before calling it.
#include <dlc/plugin.h>

DLRT_PLUGIN_NO_KERNELS(old_sdk, 1, 0)

#ifdef DLC_PLUGIN_COMPILER
#undef DLC_PLUGIN_SDK_VERSION
#define DLC_PLUGIN_SDK_VERSION 999
DLC_PLUGIN_LAYERS(registrar) { (void)registrar; }
#endif
