/* sl_strerror: messages for the codes in errors.h. */
#include "errors.h"

const char *sl_strerror(int err)
{
    switch (err) {
    case SL_OK:
        return "success";
#define SL__ERROR_CASE(name, value, msg)                                                           \
    case name:                                                                                     \
        return msg;
        SL_ERROR_LIST(SL__ERROR_CASE)
#undef SL__ERROR_CASE
    }
    return "unknown error";
}
