def test_alice_signs_in_and_opens_her_account(demo, login):
    alice = login("alice")
    page = alice.get("/account")
    assert page.status_code == 200
    assert "Northwind IT" in page.get_data(as_text=True)
