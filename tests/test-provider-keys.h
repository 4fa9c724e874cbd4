/* SPDX-License-Identifier: MIT */
#pragma once

/* Real OpenSSH public key lines (made with ssh-keygen; the private halves were thrown away),
 * shared by the provider's unit tests. */

#define KEY_ED25519 \
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3be alice@laptop"
#define KEY_ED25519_BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3be"

#define KEY_RSA \
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCVasorHdXF0ycV771kFBQ9PHaAlm3KyMBd/tDr8hvvm0G5+6KQrjhfMH/" \
        "DvgqkC3nmy+AeEMqy3l1EnvC0JOqBBxTDf2w257M5Z+pDOUyEhnhbUTyIfWD/f5wFYQVXVeuSBtTUrpxXiWkZ5nrUBo9+U17" \
        "R0okRUHckvlfMNNB1T8KaYPDDGoRdAMUvVOx6jLjk4cq0v2Vq7CelYZenWu+fFMnefLhu49G5T/Dp0txQYCMohDq/P5HhvI" \
        "BDgEQFkMddipROk/vxze6+scctuhxrjR8q3hQ7RNq/ad0ETHfVHpZpcLvQFhKBhJYUKTMiXC4PgyAknH+ql4orQ+YPJV49 bob@host"

/* ssh-keygen writes a trailing space when the comment is empty. */
#define KEY_ECDSA256 \
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGAeuiS1X0nK57/tnf0HnCwSkhC6" \
        "AFZNjSPxBfGp/eUTL/CaqOeBku3HMHKKxqdaGJiX4+39f71rUPMoOpqCiVo= "

#define KEY_ECDSA384 \
        "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFRn9v0d4T7idIQGoZujPrwoMl0a" \
        "aWkGCF4X+JUnDQ0SBMQm8gvz3Nqe8W+inLbjspesLr8A4gDmG7wKReDS8j5+K42XjSXl6dyYCGYlGUO/tTgnOPifxSq4UqwwK83Xvw== x"

#define KEY_ECDSA521 \
        "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAADgqmzLsTov7oQPkUo518D5+lw" \
        "FDcwycb/M8sQbv6B0ADaM4sjOCDf7zaqSl3GNV8x1ZurJH+qkKu8y7FReIhoNQChkGgAVvlBZlS4VcaCdE6++ovUikRyWu+Kbb4u" \
        "6u+si0aBXIXJ8G+DQ5O2lieTiiasTeZcNqpx7j/3gGbeYiPj2Q== y z"

/* Hardware-backed keys: the blob names the type, then the key and the application "ssh:". */
#define KEY_SK_ED25519 \
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERIT" \
        "FBUWFxgZGhscHR4fAAAABHNzaDo= carol@yubikey"

#define KEY_SK_ECDSA \
        "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYA" \
        "AABBBAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAEc3NoOg=="

/* A DSA key: OpenSSH dropped the type, and so does the provider. */
#define KEY_DSS \
        "ssh-dss AAAAB3NzaC1kc3MAAACBAJcJ8UxkRMFZYejmsjhIFo7rhMpaTJc0bRz8uFuaepUJ7qso0TNCJZ6GO3dlR8tWr2YJIlOV" \
        "7nOKeNr9E9DUVWz32arfZj4HWBicuLLAIkR9RHaQQwaPX85N/CvGq97FvR3hHeqDD8JHOctQCFMNSBkX+LEMg1dBrpJtJAabvFe/" \
        "AAAAFQCGqOYu5gHaxDt28lLB/juazMifVQAAAIBGGFoQhKjR+LEMQaVgNBu+Z+7y8joUzKfA5WppGjOtR/1fT+hyPi1rcdSgWALk" \
        "6Y+2/LEgRZ2BLjaRLn/DnRftdDzJ4C9Ge4pLSCd5ZXPUMEacRLBE3FNlQM8cDen2r6V6t9K7XUkq4HFfwRu2Yed06GUMA9N8B+xV" \
        "1MWUOAjD6QAAAIBIhiAbb2V36N6LHVO8jqLcPbDKs8H1OFcVF0Ml45PVwrdSwUhPegRTjSOKf6lYjJc3w+KgKsKVCK62lz7ZvC13" \
        "+IRkz8JuQgQu8U5LInjpOeyi0jr4Ls1G22fH8jQioBPIWldbff3vu+dA8s2NFKUDBQaYX1YY9nKrJxHKxx6xPg== root@vm"
