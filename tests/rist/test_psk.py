from strata_roq.rist.psk import PskDecryptor, PskEncryptor, aes_ctr, ctr_iv, derive_key


def test_tr06_2_appendix_b_key_vector():
    nonce = bytes.fromhex("52495354")
    passphrase = "Reliable Internet Stream Transport"
    assert derive_key(passphrase, nonce, 128).hex() == "1c2b0cfc90ae2638fea78c7fb2977047"
    assert derive_key(passphrase, nonce, 256).hex() == (
        "1c2b0cfc90ae2638fea78c7fb297704718bff7f4052743001a9b7ebb51cc9f1c")


def test_iv_is_sequence_first_then_zeros():
    assert ctr_iv(0x01020304) == bytes.fromhex("01020304") + bytes(12)


def test_ctr_round_trip_and_counter_changes_ciphertext():
    key = bytes(range(16))
    data = b"x" * 100
    a, b = aes_ctr(key, 1, data), aes_ctr(key, 2, data)
    assert a != b and aes_ctr(key, 1, a) == data


def test_key_rotation_changes_nonce_and_decryptor_caches_keys():
    enc = PskEncryptor("secret", 256, key_rotation=3)
    nonces = [enc.next()[0] for _ in range(7)]
    assert nonces[0] == nonces[2] != nonces[3] and enc.rotations == 2
    dec = PskDecryptor("secret")
    assert dec.key_for(nonces[0], 256) == derive_key("secret", nonces[0], 256)
    assert dec.key_for(nonces[0], 256) is dec.key_for(nonces[0], 256)
