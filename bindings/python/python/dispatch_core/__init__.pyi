# Types of the package: __init__.py builds Status from the core's table at
# import time, which a type checker cannot see, so its members are listed here
# (tests/test_stubs.py checks them against the running package).
import enum

from ._errors import (
    InvalidKey as InvalidKey,
    PermissionDenied as PermissionDenied,
    Refusal as Refusal,
    SigningError as SigningError,
    Unauthenticated as Unauthenticated,
    VerificationError as VerificationError,
)
from ._native import (
    DEFAULT_BODY_LIMIT as DEFAULT_BODY_LIMIT,
    REQUIRED_COMPONENTS as REQUIRED_COMPONENTS,
    RUN_PATH as RUN_PATH,
    RunAnswer as RunAnswer,
    RunCall as RunCall,
    RunRpc as RunRpc,
    SigningKey as SigningKey,
    VerificationKey as VerificationKey,
    check_content_digest as check_content_digest,
    classify_response as classify_response,
    code_from_http_status as code_from_http_status,
    code_grpc_number as code_grpc_number,
    code_http_status as code_http_status,
    connect_codes as connect_codes,
    content_digest as content_digest,
    error_json as error_json,
    parse_signing_key as parse_signing_key,
    parse_verification_key as parse_verification_key,
    reencode_message as reencode_message,
    sign_request as sign_request,
    verify_request as verify_request,
)

__all__: list[str]

class Status(enum.IntEnum):
    """``dispatch.sdk.v1.Status``, numbered as on the wire."""

    UNSPECIFIED = 0
    OK = 1
    TIMEOUT = 2
    THROTTLED = 3
    INVALID_ARGUMENT = 4
    INVALID_RESPONSE = 5
    TEMPORARY_ERROR = 6
    PERMANENT_ERROR = 7
    INCOMPATIBLE_STATE = 8
    DNS_ERROR = 9
    TCP_ERROR = 10
    TLS_ERROR = 11
    HTTP_ERROR = 12
    UNAUTHENTICATED = 13
    PERMISSION_DENIED = 14
    NOT_FOUND = 15
    @property
    def temporary(self) -> bool: ...
    @property
    def wire_name(self) -> str: ...

def status_from_http_status(status: int) -> Status: ...
def status_from_connect_code(code: str) -> Status: ...
