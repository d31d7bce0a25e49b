"""The campus grid: org units school → college → class → dorm, and scope queries over them."""
