// The header must compile as C++ too (cbindgen cpp_compat): extern "C"
// linkage and the fixed-width enums. Compiled with -fsyntax-only by
// scripts/test-ios.sh.
#include "sipwake.h"

static_assert(sizeof(SipwakeStatusCode) == 4, "status codes are uint32_t");
static_assert(SIPWAKE_STATUS_OK == 0, "OK is zero");

int main() {
    char *out = nullptr;
    SipwakeStatusCode st = sipwake_parse_mpush(sipwake_str_from_c("null"), &out);
    sipwake_string_free(out);
    return st == SIPWAKE_STATUS_OK ? 0 : 1;
}
