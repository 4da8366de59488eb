"""wxmember: membership and loyalty backend for WeChat brands."""
