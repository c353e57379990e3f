"""The cart through the API: add, list, change (If-Match) and remove, through the cart page's services."""

from __future__ import annotations


def test_add_change_and_remove_a_cart_item(api):
    client = api("alice")
    added = client.post("/api/v1/cart/items", json={"product": "livedesk", "edition": "Professional",
                                                    "quantity": 3})
    assert added.status_code == 201, added.get_json()
    url = added.headers["Location"]
    etag = client.get(url).headers["ETag"]
    changed = client.patch(url, json={"quantity": 5}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["quantity"] == 5
    stale = client.patch(url, json={"quantity": 10}, headers={"If-Match": etag})
    assert stale.status_code == 412
    wrong = client.patch(url, json={"quantity": 7})
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "quantity"
    assert [i["quantity"] for i in client.get("/api/v1/cart/items").get_json()["data"]] == [5]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_another_users_cart_item_is_not_found(api):
    url = api("alice").post("/api/v1/cart/items", json={"product": "livedesk", "edition": "Professional",
                                                        "quantity": 3}).headers["Location"]
    assert api("frank", "Litware Solutions").get(url).status_code == 404
    assert api("frank", "Litware Solutions").delete(url).status_code == 404
