from strata_roq.wt.tokens import ViewerAuth, sign


def test_open_gateway_lets_everyone_in():
    assert ViewerAuth().check("main", None, 0) is None


def test_shared_token():
    auth = ViewerAuth(token="s3cret")
    assert auth.check("main", "s3cret", 0) is None
    assert auth.check("main", "nope", 0) == "wrong token"
    assert auth.check("main", None, 0) == "a token is required"


def test_signed_tokens_expire_and_are_bound_to_their_stream():
    auth = ViewerAuth(secret="k")
    good = sign("k", "main", 1000)
    assert auth.check("main", good, 999.0) is None
    assert auth.check("main", good, 1000.5) == "token expired"
    assert auth.check("other", good, 0) == "wrong token"
    assert auth.check("main", sign("not-k", "main", 1000), 0) == "wrong token"
    assert auth.check("main", "soon.abc", 0) == "malformed token"
    forged = "99999." + good.split(".")[1]
    assert auth.check("main", forged, 0) == "wrong token"
