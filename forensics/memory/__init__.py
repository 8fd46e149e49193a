"""Process memory: address spaces over pagemap + pages, and what searches them."""
