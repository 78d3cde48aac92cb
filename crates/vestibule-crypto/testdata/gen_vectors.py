"""Produces the imported-digest test vectors pasted into src/password.rs tests.

Independent implementations only: pyca bcrypt 5.0.0, argon2-cffi 25.1.0, Werkzeug 3.1.8, Django 5.2.19,
passlib 1.7.4 and CPython 3.11 hashlib. Run once with `python3 gen_vectors.py`; salts are random, so the
output differs per run, and any run's output is a valid set of vectors.
"""

import base64
import hashlib
import os

import argon2
import bcrypt
import django
from django.conf import settings
from passlib.hash import phpass
from werkzeug.security import generate_password_hash

settings.configure()
django.setup()
from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, PBKDF2PasswordHasher  # noqa: E402

PW = "correct horse battery staple"
# Not NFKC-normal: the "ﬁ" ligature and a decomposed "é" show that imports hash the raw bytes.
UNI = "\ufb01ne cafe\u0301 pässwörd"

def out(name, value):
    print(f"{name} = {value!r}")

for label, pw in (("pw", PW), ("uni", UNI)):
    b = pw.encode()
    out(f"argon2id_{label}", argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(pw))
    out(f"argon2id_weak_{label}", argon2.PasswordHasher(time_cost=3, memory_cost=4096, parallelism=1).hash(pw))
    out(f"argon2i_{label}", argon2.PasswordHasher(time_cost=3, memory_cost=4096, parallelism=2, type=argon2.Type.I).hash(pw))
    out(f"bcrypt_2b_{label}", bcrypt.hashpw(b, bcrypt.gensalt(rounds=5)).decode())
    out(f"bcrypt_2a_{label}", bcrypt.hashpw(b, bcrypt.gensalt(rounds=4, prefix=b"2a")).decode())
    out(f"scrypt_werkzeug_{label}", generate_password_hash(pw, method="scrypt"))
    out(f"scrypt_werkzeug_small_{label}", generate_password_hash(pw, method="scrypt:16384:8:1"))
    salt = os.urandom(16)
    out(f"pbkdf2_sha256_{label}", "pbkdf2_sha256$%d$%s$%s" % (
        10000, base64.b64encode(salt).decode(),
        base64.b64encode(hashlib.pbkdf2_hmac("sha256", b, salt, 10000)).decode()))
    out(f"pbkdf2_sha256_django_{label}", PBKDF2PasswordHasher().encode(pw, PBKDF2PasswordHasher().salt(), 20000))
    raw_salt = "sAlTy" + os.urandom(6).hex() + "zz"  # not valid hex, so used as raw bytes
    out(f"pbkdf2_sha1_{label}", "pbkdf2_sha1$%d$%s$%s" % (
        10000, raw_salt, hashlib.pbkdf2_hmac("sha1", b, raw_salt.encode(), 10000, dklen=32).hex()))
    hex_salt = os.urandom(16)
    out(f"pbkdf2_sha1_hexsalt_{label}", "pbkdf2_sha1$%d$%s$%s$%d" % (
        10000, hex_salt.hex(), hashlib.pbkdf2_hmac("sha1", b, hex_salt, 10000, dklen=20).hex(), 20))
    out(f"pbkdf2_sha512_{label}", "pbkdf2_sha512$%d$%s$%s" % (
        10000, raw_salt, hashlib.pbkdf2_hmac("sha512", b, raw_salt.encode(), 10000).hex()))
    out(f"pbkdf2_sha512_hex_{label}", "pbkdf2_sha512_hex$%d$%s$%s" % (
        10000, hex_salt.hex(), hashlib.pbkdf2_hmac("sha512", b, hex_salt, 10000).hex()))
    out(f"bcrypt_sha256_django_{label}", BCryptSHA256PasswordHasher().encode(pw, bcrypt.gensalt(rounds=4)))
    out(f"phpass_{label}", phpass.using(rounds=9).hash(pw))
    out(f"md5_{label}", hashlib.md5(b).hexdigest())
    out(f"sha256_{label}", hashlib.sha256(b).hexdigest())

# bcrypt reads at most 72 bytes; pyca bcrypt 5 refuses longer input, so hash exactly the 72-byte prefix.
LONG = "x" * 72
out("bcrypt_72", bcrypt.hashpw(LONG.encode(), bcrypt.gensalt(rounds=4)).decode())

# Firebase's published vector (firebase/scrypt README), recomputed here: scrypt(pw, salt||sep, N=2^14, r=8, p=1),
# then AES-256-CTR (zero IV) of the signer key under the first 32 bytes of the derived key.
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

def firebase(pw, salt, signer, sep, rounds, mem):
    dk = hashlib.scrypt(pw.encode(), salt=base64.b64decode(salt) + base64.b64decode(sep), n=2 ** mem, r=rounds, p=1, dklen=64)
    enc = Cipher(algorithms.AES(dk[:32]), modes.CTR(b"\0" * 16)).encryptor()
    return base64.b64encode(enc.update(base64.b64decode(signer)) + enc.finalize()).decode()

SIGNER = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
h = firebase("user1password", "42xEC+ixf3L2lw==", SIGNER, "Bw==", 8, 14)
assert h == "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==", h
out("scrypt_firebase_published", "%s$%s$%s$%s$%d$%d" % (h, "42xEC+ixf3L2lw==", SIGNER, "Bw==", 8, 14))
fsalt = base64.b64encode(os.urandom(12)).decode()
out("scrypt_firebase_uni", "%s$%s$%s$%s$%d$%d" % (firebase(UNI, fsalt, SIGNER, "Bw==", 8, 14), fsalt, SIGNER, "Bw==", 8, 14))
