# Placeholder: the smoke binaries' build rules land here (SMOKE_OBJ is linked into the library).
SMOKE_OBJ :=
