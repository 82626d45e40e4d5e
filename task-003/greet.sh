#!/bin/sh
echo "Hello, Ada!"
